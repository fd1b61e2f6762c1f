"""A pass re-runs due failed jobs and moves used-up ones to the dead letter."""

import pytest
from django.test import override_settings

from jobs_app.models import Job
from jobs_app.sweeper import SweepOptions, sweep
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


def states(*jobs):
    for job in jobs:
        job.refresh_from_db()
    return [job.state for job in jobs]


def test_a_due_failed_job_runs_again_with_its_arguments(run_worker, ago):
    job = JobFactory(failed=True, failed_at=ago(seconds=301), args=[20, 22], attempts=3, cycle=1)

    result = sweep()

    job.refresh_from_db()
    assert (result.scanned, result.retried, result.dead, result.skipped) == (1, 1, 0, 0)
    assert (job.state, job.auto_retries, job.attempts, job.cycle) == (Job.State.QUEUED, 1, 0, 2)
    run_worker("default")
    job.refresh_from_db()
    assert (job.state, job.result) == (Job.State.SUCCEEDED, 42)


def test_a_job_that_failed_less_than_the_delay_ago_waits(ago):
    job = JobFactory(failed=True, failed_at=ago(seconds=290))
    result = sweep()
    assert (result.retried, result.skipped) == (0, 1)
    assert states(job) == [Job.State.FAILED]


def test_used_up_auto_retries_go_dead_and_job_dead_is_sent(dead_signals, ago):
    used_up = JobFactory.create_batch(3, failed=True, auto_retries=3, failed_at=ago(seconds=1))
    result = sweep()
    assert result.dead == 3
    assert states(*used_up) == [Job.State.DEAD] * 3
    assert sorted(job.pk for job in dead_signals) == sorted(job.pk for job in used_up)
    assert all(job.state == Job.State.DEAD for job in dead_signals)


def test_dead_lettering_is_one_update_per_batch(django_assert_max_num_queries, ago):
    JobFactory.create_batch(50, failed=True, auto_retries=3, failed_at=ago(seconds=1))
    # read the batch, lock + update, the empty next batch, the repair's reads, the alert count
    with django_assert_max_num_queries(12):
        assert sweep(SweepOptions(repair=False)).dead == 50


def test_a_handler_with_auto_retry_off_goes_straight_to_dead(ago, dead_signals):
    job = JobFactory(failed=True, handler="test.sweeper_no_auto_retry", failed_at=ago(hours=1))
    assert sweep().dead == 1
    assert states(job) == [Job.State.DEAD]
    assert [signalled.pk for signalled in dead_signals] == [job.pk]


def test_a_handler_policy_and_its_delay_for_the_error_type(ago):
    rate_limited = JobFactory(
        failed=True, handler="test.sweeper_rate_limited", error_type="RateLimitError", failed_at=ago(seconds=600)
    )
    other_error = JobFactory(
        failed=True, handler="test.sweeper_rate_limited", error_type="RuntimeError", failed_at=ago(seconds=61)
    )
    used_up = JobFactory(failed=True, handler="test.sweeper_rate_limited", auto_retries=1, failed_at=ago(hours=1))

    result = sweep()

    assert (result.retried, result.dead, result.skipped) == (1, 1, 1)
    assert states(rate_limited, other_error, used_up) == [Job.State.FAILED, Job.State.QUEUED, Job.State.DEAD]


@override_settings(JOBS_APP={"AUTO_RETRY": {"delay": 10, "max_retries": 1}})
def test_settings_set_the_defaults(ago):
    due = JobFactory(failed=True, failed_at=ago(seconds=11))
    used_up = JobFactory(failed=True, auto_retries=1, failed_at=ago(seconds=11))
    sweep()
    assert states(due, used_up) == [Job.State.QUEUED, Job.State.DEAD]


def test_rows_of_an_unregistered_handler_use_the_defaults(ago):
    job = JobFactory(failed=True, handler="gone.away", failed_at=ago(seconds=301))
    sweep()
    assert states(job) == [Job.State.QUEUED]


def test_command_line_delay_and_max_retries_win(ago):
    recent = JobFactory(failed=True, failed_at=ago(seconds=5))
    once_retried = JobFactory(failed=True, auto_retries=1, failed_at=ago(seconds=5))
    sweep(SweepOptions(delay=0, max_retries=1))
    assert states(recent, once_retried) == [Job.State.QUEUED, Job.State.DEAD]


def test_queue_and_handler_filters(ago):
    default = JobFactory(failed=True, failed_at=ago(hours=1))
    email = JobFactory(failed=True, queue="email", handler="test.echo", failed_at=ago(hours=1))
    result = sweep(SweepOptions(queues=("email",)))
    assert result.scanned == 1
    assert states(default, email) == [Job.State.FAILED, Job.State.QUEUED]
    assert sweep(SweepOptions(handler="test.add")).retried == 1
    assert states(default) == [Job.State.QUEUED]


def test_limit_caps_the_jobs_acted_on_per_pass(ago):
    JobFactory.create_batch(5, failed=True, failed_at=ago(hours=1))
    result = sweep(SweepOptions(limit=2, batch_size=2))
    assert result.retried == 2
    assert Job.objects.filter(state=Job.State.FAILED).count() == 3


def test_dry_run_changes_nothing_and_says_what_it_would_do(redis, ago, dead_signals):
    due = JobFactory(failed=True, failed_at=ago(hours=1))
    used_up = JobFactory(failed=True, auto_retries=3, failed_at=ago(hours=1))
    lost = JobFactory(needs_push=True)
    result = sweep(SweepOptions(dry_run=True))
    assert (result.retried, result.dead, result.repaired, result.dry_run) == (1, 1, 1, True)
    assert states(due, used_up, lost) == [Job.State.FAILED, Job.State.FAILED, Job.State.QUEUED]
    assert lost.needs_push and due.auto_retries == 0
    assert dead_signals == []
    assert redis.dbsize() == 0


def test_other_states_are_not_touched(ago):
    jobs = [
        JobFactory(dead=True, failed_at=ago(hours=1)),
        JobFactory(succeeded=True),
        JobFactory(state=Job.State.CANCELLED),
    ]
    assert sweep().scanned == 0
    assert states(*jobs) == [Job.State.DEAD, Job.State.SUCCEEDED, Job.State.CANCELLED]


def test_a_stop_request_finishes_the_batch_in_hand(ago):
    JobFactory.create_batch(6, failed=True, failed_at=ago(hours=1))
    result = sweep(SweepOptions(batch_size=2), should_stop=lambda: True)
    assert (result.scanned, result.retried) == (2, 2)
    assert Job.objects.filter(state=Job.State.FAILED).count() == 4


def test_within_a_batch_only_the_due_jobs_move_not_those_between_them(ago, dead_signals):
    # A batch acts on its due rows by key, bounded by the batch's first and last key: the rows in that
    # range that wait, or that go dead, must not be re-run with the others.
    jobs = sorted(JobFactory.create_batch(5, failed=True, failed_at=ago(hours=1)), key=lambda job: job.pk)
    first, waiting, used_up, due, last = jobs
    Job.objects.filter(pk=waiting.pk).update(failed_at=ago(seconds=5))
    Job.objects.filter(pk=used_up.pk).update(auto_retries=3)

    result = sweep(SweepOptions(repair=False))

    assert (result.scanned, result.retried, result.dead, result.skipped) == (5, 3, 1, 1)
    assert states(first, waiting, used_up, due, last) == [
        Job.State.QUEUED,
        Job.State.FAILED,
        Job.State.DEAD,
        Job.State.QUEUED,
        Job.State.QUEUED,
    ]
    assert [job.pk for job in dead_signals] == [used_up.pk]
