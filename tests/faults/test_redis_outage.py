"""Redis stopped while jobs are enqueued, and Redis restarted empty (or FLUSHALL) with jobs queued,
scheduled and failed: the requests succeed, the rows are kept, and every job runs, once."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from jobs_app.api.tokens import issue_token
from jobs_app.models import Job
from jobs_app.stats import current_jobs
from tests.factories import JobFactory
from tests.faults.consistency import assert_consistent
from tests.polling import wait_for
from tests.testapp import fault_handlers

pytestmark = [pytest.mark.faults, pytest.mark.subprocess, pytest.mark.django_db(transaction=True)]


def runs_of(directory: Path, job) -> int:
    """How many times the handler really ran for `job` (each run leaves a file)."""
    return len(list(directory.glob(f"ran-{job.pk}-*")))


def all_finished() -> bool:
    return not Job.objects.unfinished().exists() and not Job.objects.filter(state=Job.State.FAILED).exists()


@pytest.mark.urls("tests.faults.urls")
def test_requests_succeed_while_redis_is_down_and_every_job_runs_once_when_it_is_back(fault_redis, processes, tmp_path):
    failed = JobFactory.create_batch(3, failed=True, handler="faults.count", args=[str(tmp_path)])
    user = User.objects.create_superuser("ops", password="pw")
    api = Client(headers={"Authorization": f"Bearer {issue_token(user, name='faults')[1]}"})
    fault_redis.stop()

    response = Client().post("/signup", {"count": "5", "directory": str(tmp_path)})
    assert response.status_code == 201
    retried = api.post("/api/jobs/retry-all-failed", "{}", content_type="application/json")
    assert (retried.status_code, retried.json()["retried"]) == (200, 3)

    jobs = list(Job.objects.filter(handler="faults.count"))
    assert len(jobs) == 8
    assert {(job.state, job.needs_push) for job in jobs} == {(Job.State.QUEUED, True)}

    fault_redis.start()
    processes.worker("faults-after-outage")
    processes.manage("sweeper", "retry_failed", "--interval", "1")
    wait_for(all_finished, timeout=90, message="every job to finish")

    assert set(Job.objects.values_list("state", flat=True)) == {Job.State.SUCCEEDED}
    assert [runs_of(tmp_path, job) for job in jobs] == [1] * 8
    assert {job.history.count() for job in Job.objects.exclude(pk__in=[j.pk for j in failed])} == {1}
    assert_consistent()


@pytest.mark.parametrize("how", ["restart", "flushall"])
def test_every_unfinished_job_completes_after_redis_loses_everything(fault_redis, rq_redis, processes, tmp_path, how):
    directory = str(tmp_path)
    queued = [fault_handlers.count.enqueue(directory) for _ in range(4)]
    scheduled = [fault_handlers.count.using(delay=timedelta(hours=1)).enqueue(directory) for _ in range(3)]
    failed = JobFactory.create_batch(
        2, failed=True, handler="faults.count", args=[directory], failed_at=timezone.now() - timedelta(hours=1)
    )
    assert rq_redis.llen("rq:queue:default") == 4
    assert rq_redis.zcard("rq:scheduled:default") == 3

    if how == "restart":
        fault_redis.restart()
    else:
        rq_redis.flushall()
    # The scheduled jobs' time comes (time travel in the row: RQ's schedule is gone with Redis).
    Job.objects.filter(pk__in=[job.pk for job in scheduled]).update(scheduled_for=timezone.now() - timedelta(seconds=5))

    processes.worker("faults-restarted")
    processes.manage("sweeper", "retry_failed", "--interval", "1")
    wait_for(all_finished, timeout=90, message="every job to finish")

    jobs = [*queued, *scheduled, *failed]
    assert set(Job.objects.values_list("state", flat=True)) == {Job.State.SUCCEEDED}
    assert [runs_of(tmp_path, job) for job in jobs] == [1] * len(jobs)
    assert_consistent()


def test_a_worker_that_lives_through_a_redis_restart_is_seen_again_and_runs_new_jobs(fault_redis, processes, tmp_path):
    processes.worker("faults-survivor")
    wait_for(lambda: "faults-survivor" in current_jobs(), message="the worker to register")

    fault_redis.restart()  # empty: the worker's registration is gone with everything else
    # Seen again (the health check and the repair ask Redis which workers are alive)...
    wait_for(lambda: "faults-survivor" in current_jobs(), timeout=30, message="the worker to register again")
    # ...and working: RQ's worker reconnects on its own.
    job = fault_handlers.count.enqueue(str(tmp_path))
    wait_for(lambda: Job.objects.get(pk=job.pk).state == Job.State.SUCCEEDED, message="the job to run")
    assert processes.started["faults-survivor"].poll() is None
    assert_consistent()
