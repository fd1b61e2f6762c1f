"""Each occurrence is one ordinary job, however many schedulers fire it; a missed one fires once."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from jobs_app import recurring
from jobs_app.models import Job
from jobs_app.scheduler import JobsAppCronScheduler
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)

MIDNIGHT = datetime(2026, 1, 3, tzinfo=UTC)


def nightly_jobs():
    return Job.objects.filter(handler="test.nightly")


def started_scheduler() -> JobsAppCronScheduler:
    scheduler = JobsAppCronScheduler()
    scheduler.load_config_from_file("jobs_app.cron")
    return scheduler


def test_an_occurrence_is_an_ordinary_job_with_the_handlers_options(run_worker):
    job = recurring.fire("test.nightly", now=MIDNIGHT + timedelta(seconds=3))

    assert (job.handler, job.queue, job.max_attempts) == ("test.nightly", "default", handlers.nightly.attempts)
    assert job.idempotency_key == "cron:test.nightly:2026-01-03T00:00:00+00:00"
    run_worker("default")
    job.refresh_from_db()
    assert (job.state, job.result) == (Job.State.SUCCEEDED, "maintained")


def test_an_occurrence_fires_once_with_two_schedulers_even_after_the_first_job_finished(run_worker):
    first, second = started_scheduler(), started_scheduler()
    for scheduler in (first, second):
        # Both reach the nightly slot: rq's own loop would, at midnight.
        entry = next(entry for entry in scheduler.get_jobs() if entry.name == "test.nightly")
        entry.next_enqueue_time = timezone.now() - timedelta(seconds=1)

    assert "test.nightly" in [entry.name for entry in first.enqueue_jobs()]
    run_worker("default")  # the first scheduler's job has already run when the second one fires
    assert "test.nightly" in [entry.name for entry in second.enqueue_jobs()]

    slot = recurring.previous_slot(handlers.nightly, timezone.now())
    assert list(nightly_jobs().values_list("idempotency_key", "state")) == [
        (recurring.occurrence_key(handlers.nightly, slot), Job.State.SUCCEEDED)
    ]


def test_the_config_registers_one_fixed_function_per_recurring_handler():
    entries = {entry.name: entry for entry in started_scheduler().get_jobs()}

    assert entries["test.nightly"].func_name == "jobs_app.recurring.fire"
    assert (entries["test.nightly"].args, entries["test.nightly"].cron) == (("test.nightly",), "0 0 * * *")
    # every=1 day is looked at once a minute: rq's interval timer drifts, a slot must not be skipped.
    assert entries["test.daily_sync"].interval == 60
    assert entries["jobs_app.recurring.catch_up"].interval == 300
    assert "test.add" not in entries


def test_a_missed_occurrence_fires_once_when_the_scheduler_comes_back():
    recurring.fire("test.nightly", now=MIDNIGHT + timedelta(seconds=2))
    # No scheduler ran on the 4th and 5th; it comes back on the 5th at 05:00.
    back = MIDNIGHT + timedelta(days=2, hours=5)

    fired = recurring.catch_up(now=back)
    fired_again = recurring.catch_up(now=back + timedelta(minutes=5))

    assert [job.idempotency_key for job in fired] == ["cron:test.nightly:2026-01-05T00:00:00+00:00"]
    assert fired_again == []
    assert nightly_jobs().count() == 2  # the 3rd's and the 5th's; not the 4th's


def test_catch_up_leaves_a_handler_that_never_ran_for_its_first_slot():
    assert recurring.catch_up(now=MIDNIGHT + timedelta(hours=15)) == []
    assert not nightly_jobs().exists()


def test_a_new_scheduler_runs_the_catch_up_at_once():
    recurring.fire("test.nightly", now=timezone.now() - timedelta(days=3))

    started_scheduler().enqueue_jobs()  # its first pass, as `jobs_cron` starts

    slot = recurring.previous_slot(handlers.nightly, timezone.now())
    assert nightly_jobs().filter(idempotency_key=recurring.occurrence_key(handlers.nightly, slot)).count() == 1
    assert nightly_jobs().count() == 2
