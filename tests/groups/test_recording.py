"""Failed attempts on a real worker land in failure groups, in the transaction that records them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test import override_settings

from jobs_app import group_actions, groups, services
from jobs_app.exceptions import WorkerDied
from jobs_app.models import FailureGroup, Job
from jobs_app.sweeper import sweep
from tests.conftest import OPS_ADMINS
from tests.factories import FailureGroupFactory, JobFactory
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failing_handler_gets_a_group_with_its_cause(run_worker):
    job = handlers.always_fails.enqueue("order 4411 failed for bob@example.com")
    run_worker()
    job.refresh_from_db()
    group = FailureGroup.objects.get()
    assert job.fingerprint == group.fingerprint
    assert {attempt.fingerprint for attempt in job.history.all()} == {group.fingerprint}
    assert (group.handler, group.error_type, group.message, group.frame) == (
        "test.always_fails",
        "RuntimeError",
        "order <n> failed for <email>",
        "tests.testapp.handlers.always_fails",
    )
    assert group.occurrences == 3 and group.status == FailureGroup.Status.OPEN and not group.regressed
    assert group.sample_job_id == job.pk and "RuntimeError: order 4411" in group.sample_traceback
    assert group.first_seen <= group.last_seen
    assert sum(group.hourly.values()) == 3
    assert groups.job_counts([group.pk]) == {group.pk: 1}
    assert job.error_type == "RuntimeError"  # the bare name the error-type filter uses is kept


def test_messages_differing_only_in_numbers_share_a_group_other_causes_do_not(run_worker):
    handlers.always_fails.enqueue("order 12 failed")
    handlers.always_fails.enqueue("order 99 failed")
    handlers.gives_up_on_value_error.enqueue("value")
    handlers.permanent.enqueue()
    run_worker()
    by_handler = {group.handler: group for group in FailureGroup.objects.all()}
    assert set(by_handler) == {"test.always_fails", "test.gives_up_on_value_error", "test.permanent"}
    assert by_handler["test.always_fails"].occurrences == 6
    assert by_handler["test.permanent"].error_type == "jobs_app.exceptions.PermanentError"
    counts = groups.job_counts(by_handler[name].pk for name in by_handler)
    assert sorted(counts.values()) == [1, 1, 2]


def test_a_resolved_group_that_fails_again_reopens_marked_regressed(run_worker):
    first = handlers.permanent.enqueue()
    run_worker()
    group = FailureGroup.objects.get()
    group_actions.set_status([group.pk], FailureGroup.Status.RESOLVED)
    group.refresh_from_db()
    assert group.status == FailureGroup.Status.RESOLVED and group.resolved_at is not None

    second = handlers.permanent.enqueue()
    run_worker()
    group.refresh_from_db()
    assert (group.status, group.regressed, group.occurrences) == (FailureGroup.Status.OPEN, True, 2)
    assert group.sample_job_id == second.pk != first.pk

    group_actions.set_status([group.pk], FailureGroup.Status.RESOLVED)
    group.refresh_from_db()
    assert not group.regressed  # resolving again clears it


def test_a_timeout_groups_like_any_error(run_worker):
    handlers.slow.enqueue(5)
    run_worker()
    group = FailureGroup.objects.get()
    assert group.error_type == "jobs_app.exceptions.JobTimeout"
    assert group.frame == "tests.testapp.handlers.slow"


def test_a_killed_attempt_groups_like_any_error(redis):
    jobs = [JobFactory(state=Job.State.RUNNING, attempts=3, worker_name=f"host-{n}.{4000 + n}") for n in range(2)]
    for job in jobs:
        # What the repair records for a worker that died (repair.py), through the one path for a failed attempt.
        error = WorkerDied(f"worker {job.worker_name} died while running attempt {job.attempts}")
        assert services.end_attempt(job, outcome="killed", error=error, give_up_on=()) is not None
    group = FailureGroup.objects.get()
    assert (group.error_type, group.frame, group.occurrences) == ("jobs_app.exceptions.WorkerDied", "", 2)
    assert group.message == "worker host-<n> died while running attempt <n>"


@override_settings(JOBS_APP={"ALERT_DEAD_THRESHOLD": 1}, ADMINS=OPS_ADMINS)
def test_a_muted_group_is_not_auto_retried_and_left_out_of_the_dead_job_alert(redis):
    muted = FailureGroupFactory(status=FailureGroup.Status.MUTED)
    waiting = JobFactory.create_batch(2, failed=True, fingerprint=muted.pk)
    JobFactory.create_batch(3, dead=True, fingerprint=muted.pk)
    other = JobFactory(failed=True)
    result = sweep()
    assert result.retried == 1
    assert set(Job.objects.filter(pk__in=[job.pk for job in waiting]).values_list("state", flat=True)) == {"failed"}
    other.refresh_from_db()
    assert other.state == Job.State.QUEUED
    assert mail.outbox == []  # three dead jobs, all muted: not above the threshold of one

    group_actions.set_status([muted.pk], FailureGroup.Status.OPEN)  # unmute
    assert sweep().retried == 2


def test_the_sample_of_a_regressed_group_is_the_failure_that_reopened_it_not_each_later_one(run_worker):
    handlers.permanent.enqueue()
    run_worker()
    group = FailureGroup.objects.get()
    group_actions.set_status([group.pk], FailureGroup.Status.RESOLVED)
    reopening = handlers.permanent.enqueue()
    run_worker()
    handlers.permanent.enqueue()
    run_worker()
    group.refresh_from_db()
    assert (group.occurrences, group.regressed, group.sample_job_id) == (3, True, reopening.pk)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="HOT updates are PostgreSQL's")
def test_counting_failures_updates_the_group_row_in_place_on_postgresql(redis):
    """No index holds what a failure changes, so PostgreSQL writes no index entry for it (a HOT update)."""
    jobs = [JobFactory(state=Job.State.RUNNING, attempts=3) for _ in range(6)]
    with transaction.atomic(), connection.cursor() as cursor:
        for job in jobs:
            assert services.end_attempt(job, outcome="failed", error=RuntimeError("upstream 502"), give_up_on=())
        table = FailureGroup._meta.db_table
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_updated(%s::regclass), pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
            [table, table],
        )
        assert cursor.fetchone() == (5, 5)  # the first failure created the row, the next five updated it in place
    assert FailureGroup.objects.get().occurrences == 6


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("cannot print me")


def test_an_error_that_cannot_be_printed_or_stored_still_lands_in_a_group(redis):
    jobs = [JobFactory(state=Job.State.RUNNING, attempts=3) for _ in range(3)]
    errors = [Unprintable(), RuntimeError("bad \udcff byte \x00 in 42"), RuntimeError("bad \udcff byte \x00 in 7")]
    for job, error in zip(jobs, errors, strict=True):
        assert services.end_attempt(job, outcome="failed", error=error, give_up_on=()) is not None
    messages = sorted(FailureGroup.objects.values_list("message", flat=True))
    assert messages == ["<unprintable Unprintable object>", "bad \\udcff byte \\x<n> in <n>"]


def test_the_sparkline_keeps_its_last_hours_and_the_last_seen_never_goes_back(redis):
    job = JobFactory(state=Job.State.RUNNING, attempts=3, worker_name="host-1.4001")
    error = WorkerDied("worker host-1.4001 died while running attempt 3")
    assert services.end_attempt(job, outcome="killed", error=error, give_up_on=()) is not None
    group = FailureGroup.objects.get()
    now_hour = groups.hour_of(group.last_seen)
    later = group.last_seen + timedelta(days=1)
    old_hour, recent_hour = now_hour - groups.SPARK_HOURS, now_hour - 1
    FailureGroup.objects.filter(pk=group.pk).update(
        last_seen=later, hourly={str(old_hour): 5, str(recent_hour): 2, str(now_hour): 1}
    )

    job = JobFactory(state=Job.State.RUNNING, attempts=3, worker_name="host-2.4002")
    error = WorkerDied("worker host-2.4002 died while running attempt 3")
    assert services.end_attempt(job, outcome="killed", error=error, give_up_on=()) is not None
    group.refresh_from_db()
    assert group.hourly == {str(recent_hour): 2, str(now_hour): 2}  # the hour past the span is dropped
    assert (group.occurrences, group.last_seen) == (2, later)
