"""Re-running failed, dead and cancelled jobs: one job or thousands, in bulk."""

import pytest
from django.test import override_settings
from rq import Queue

from jobs_app import services, transport
from jobs_app.models import Job
from tests.factories import JobFactory
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failed_job_reruns_with_its_arguments_attempts_reset_in_a_new_cycle(run_worker, redis, tmp_path):
    needed = tmp_path / "needed"
    job = handlers.needs_file.enqueue(str(needed))
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.FAILED, 1)

    result = services.rerun(job)
    assert (result.retried, result.skipped, result.total) == (1, 0, 1)
    assert (job.state, job.attempts, job.cycle, job.failed_at) == (Job.State.QUEUED, 0, 2, None)
    assert Queue("default", connection=redis).job_ids == [str(job.pk)]

    needed.touch()
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.result) == (Job.State.SUCCEEDED, "found")
    assert [(a.cycle, a.number, a.outcome) for a in job.history.all()] == [(1, 1, "failed"), (2, 1, "succeeded")]


def test_rerun_keeps_the_original_queue_priority_and_options(redis):
    job = JobFactory(failed=True, queue="email", priority="high", max_attempts=9, timeout=12)
    services.rerun(job)
    job.refresh_from_db()
    assert (job.queue, job.priority, job.max_attempts, job.timeout) == ("email", "high", 9, 12)
    assert Queue("email:high", connection=redis).job_ids == [str(job.pk)]


def test_only_failed_dead_and_cancelled_jobs_are_rerun(redis):
    rerunnable = [JobFactory(failed=True), JobFactory(dead=True), JobFactory(state=Job.State.CANCELLED)]
    others = [JobFactory(succeeded=True), JobFactory(state=Job.State.QUEUED), JobFactory(state=Job.State.RUNNING)]
    result = services.rerun(Job.objects.all())
    assert (result.retried, result.skipped) == (3, 3)
    assert set(Job.objects.filter(state=Job.State.QUEUED, cycle=2).values_list("pk", flat=True)) == {
        job.pk for job in rerunnable
    }
    assert [Job.objects.get(pk=job.pk).state for job in others] == ["succeeded", "queued", "running"]


def test_auto_retry_reruns_count_in_auto_retries():
    job = JobFactory(failed=True, auto_retries=1)
    services.rerun(job, auto_retry=True)
    assert job.auto_retries == 2
    services.rerun(JobFactory(failed=True))
    assert Job.objects.filter(auto_retries=0).count() == 1


def test_bulk_rerun_is_a_few_queries_per_batch_not_per_row(redis, django_assert_max_num_queries):
    Job.objects.bulk_create(JobFactory.build_batch(2500, failed=True))
    with django_assert_max_num_queries(20):
        result = services.rerun(Job.objects.failed(), batch_size=1000)
    assert (result.retried, result.skipped) == (2500, 0)
    assert Queue("default", connection=redis).count == 2500
    assert not Job.objects.failed().exists()


def test_rerun_with_redis_down_keeps_the_rows_marked_for_the_sweeper():
    job = JobFactory(failed=True)
    config = {name: {**value, "URL": "redis://127.0.0.1:1/0"} for name, value in transport.settings.RQ_QUEUES.items()}
    with override_settings(RQ_QUEUES=config):
        result = services.rerun(job)
    job.refresh_from_db()
    assert result.retried == 1
    assert (job.state, job.needs_push) == (Job.State.QUEUED, True)


def test_a_bulk_rerun_says_which_jobs_it_changed_and_why_it_left_the_others(redis):
    failed = JobFactory.create_batch(3, failed=True)
    waiting = JobFactory(state=Job.State.QUEUED)
    result = services.rerun(Job.objects.all(), batch_size=2)
    assert {ref.id for ref in result.changed} == {str(job.pk) for job in failed}
    assert {ref.label for ref in result.changed} == {job.label for job in failed}
    assert (result.retried, result.not_eligible, result.locked, result.total) == (3, 1, 0, 4)
    assert Job.objects.get(pk=waiting.pk).cycle == 1


def test_a_rerun_job_is_marked_for_the_repair_until_its_push_is_done(redis):
    # The repair looks up queued jobs by creation time and a re-run job is old: a process that died
    # between the commit and the push would leave it queued and unpushed, so it stays marked until pushed.
    from django.db import transaction

    job = JobFactory(failed=True)
    with transaction.atomic():
        services.rerun(job)
        assert Job.objects.get(pk=job.pk).needs_push
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED and not job.needs_push
    assert redis.lrange("rq:queue:default", 0, -1) == [str(job.pk).encode()]
