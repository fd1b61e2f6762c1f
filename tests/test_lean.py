"""jobs_app's lean path through RQ: RQ's registries, worker record and retries still say what happens."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.utils import timezone
from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.worker import WorkerStatus

from jobs_app import job_handler, transport
from jobs_app.models import Job
from jobs_app.states import Priority, State
from jobs_app.worker import SimpleWorker
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)

seen: dict[str, object] = {}


@job_handler("test.lean.looks_at_rq", takes_context=True)
def looks_at_rq(context):
    """What RQ shows of this job while it runs: what the repair and the admin's worker list read."""
    redis = transport.connection("default")
    job_id = str(context.job.pk)
    seen["started"] = job_id in StartedJobRegistry("default", connection=redis).get_job_ids()
    seen["workers"] = [(beat.current_job, beat.beating(timezone.now(), grace=0)) for beat in
                       transport.workers(["default"])]  # fmt: skip
    seen["status"] = redis.hget(f"rq:job:{job_id}", "status")


@job_handler("test.lean.records_order")
def records_order(label):
    seen.setdefault("order", []).append(label)  # type: ignore[union-attr]


@pytest.fixture(autouse=True)
def _forget():
    seen.clear()


def worker_hash(redis, worker: SimpleWorker) -> dict[bytes, bytes]:
    return redis.hgetall(worker.key)


def test_a_running_job_is_in_rqs_started_registry_and_its_worker_says_so(run_worker, redis):
    job = looks_at_rq.enqueue()
    worker = run_worker("default")

    assert seen["started"], "a killed worker's job could not be found"
    assert seen["workers"] == [(str(job.pk), True)]
    assert seen["status"] == b"started"
    job.refresh_from_db()
    assert job.state == State.SUCCEEDED
    # Afterwards RQ keeps nothing of the job (the row holds the outcome), and counts it as done.
    assert not redis.exists(f"rq:job:{job.pk}")
    assert StartedJobRegistry("default", connection=redis).count == 0
    record = worker_hash(redis, worker)
    assert record[b"successful_job_count"] == b"1"
    assert b"current_job" not in record


def test_a_failed_attempt_goes_back_to_rq_for_its_retry(run_worker, redis):
    job = handlers.fails_with_backoff.enqueue()
    worker = run_worker("default")

    job.refresh_from_db()
    assert job.state == State.SCHEDULED
    assert str(job.pk) in ScheduledJobRegistry("default", connection=redis).get_job_ids()
    assert StartedJobRegistry("default", connection=redis).count == 0
    assert worker_hash(redis, worker)[b"failed_job_count"] == b"1"
    # Pushed back as a new job is pushed, due when the row says: RQ's own retry bookkeeping is not needed.
    scheduled_at = ScheduledJobRegistry("default", connection=redis).get_scheduled_time(str(job.pk))
    assert abs((scheduled_at - job.scheduled_for).total_seconds()) < 1
    assert redis.hget(f"rq:job:{job.pk}", "status") == b"scheduled"
    assert not redis.exists(f"rq:results:{job.pk}")


def test_a_retry_due_at_once_goes_straight_back_on_its_queue_and_runs(run_worker, redis):
    job = handlers.succeeds_on_attempt.enqueue(2)
    run_worker("default")

    job.refresh_from_db()
    assert (job.state, job.attempts, job.result) == (State.SUCCEEDED, 2, 2)
    assert not redis.exists(f"rq:job:{job.pk}"), "the row keeps the outcome; RQ keeps nothing"
    assert not redis.exists(f"rq:results:{job.pk}")


def test_high_priority_jobs_run_first_and_a_job_gone_from_redis_is_passed_over(run_worker, redis):
    low = records_order.using(priority=Priority.LOW).enqueue("low")
    normal = records_order.enqueue("normal")
    gone = records_order.enqueue("gone")
    high = records_order.using(priority=Priority.HIGH).enqueue("high")
    redis.delete(f"rq:job:{gone.pk}")  # deleted while queued

    run_worker("default")

    assert seen["order"] == ["high", "normal", "low"]
    assert {row.pk: row.state for row in Job.objects.filter(pk__in=[low.pk, normal.pk, high.pk])} == {
        low.pk: State.SUCCEEDED,
        normal.pk: State.SUCCEEDED,
        high.pk: State.SUCCEEDED,
    }


def test_the_worker_is_recorded_idle_after_its_job(run_worker, redis):
    records_order.enqueue("one")
    worker = run_worker("default")
    assert worker_hash(redis, worker)[b"state"] == WorkerStatus.IDLE.encode()


def test_a_plain_rq_job_still_takes_rqs_own_path(run_worker, redis):
    with override_settings(JOBS_APP={"ALLOWED_RQ_FUNCTIONS": ["tests.testapp.plain_rq.ping"]}):
        rq_job = Queue("default", connection=redis, serializer=JSONSerializer).enqueue(
            "tests.testapp.plain_rq.ping", result_ttl=60
        )
        run_worker("default")
    rq_job.refresh()
    assert rq_job.get_status() == "finished"  # RQ kept its result, as RQ does
