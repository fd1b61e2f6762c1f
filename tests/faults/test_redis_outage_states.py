"""Redis goes away for a while at each point of a job's life: the worker waits for it, carries on
where it was, and every job ends once, recorded, with the worker still alive and working.

The outage (`OUTAGE` seconds) outlasts redis-py's own retries (three, about 14 s at the most):
shorter, and a worker without jobs_app's waiting connection could live through it by luck."""

import signal
import time

import pytest

from jobs_app.models import Job
from jobs_app.stats import current_jobs
from tests.faults.consistency import assert_consistent
from tests.polling import wait_for
from tests.testapp import fault_handlers

pytestmark = [pytest.mark.faults, pytest.mark.subprocess, pytest.mark.django_db(transaction=True)]

OUTAGE = 15
# What a worker logs when it meets an outage: jobs_app's waiting connection, or RQ's own loop (idle).
WAITING = ("Redis cannot be reached", "could not connect to Redis")


def met_outage(log: str) -> bool:
    return any(line in log for line in WAITING)


def state_of(job) -> str:
    return Job.objects.values_list("state", flat=True).get(pk=job.pk)


def runs_of(directory, job) -> int:
    return len(list(directory.glob(f"ran-{job.pk}-*")))


def outage(fault_redis) -> None:
    """Redis stays down `OUTAGE` seconds (the worker meets it at once: it was let go as Redis stopped),
    then comes back with its data."""
    time.sleep(OUTAGE)
    fault_redis.start()


@pytest.mark.parametrize(
    ("point", "worker_class"),
    [
        ("idle", "tests.faults.pausing.PausingWorker"),
        ("before-claim", "tests.faults.pausing.PausingWorker"),
        ("mid-handler", "tests.faults.pausing.PausingWorker"),
        ("recording", "tests.faults.pausing.PausingWorker"),
        ("recording-retry", "tests.faults.pausing.PausingWorker"),
        ("mid-handler", "tests.faults.pausing.PausingSimpleWorker"),
    ],
)
def test_a_worker_waits_through_a_redis_outage_at_each_point_of_a_job_and_carries_on(
    fault_redis, processes, tmp_path, point, worker_class
):
    name = "faults-outage"
    pause_at = "recording" if point == "recording-retry" else point
    worker = processes.worker(
        name, worker_class=worker_class, env={"FAULTS_PAUSE_AT": pause_at, "FAULTS_PAUSE_DIR": str(tmp_path)}
    )
    wait_for(lambda: name in current_jobs(), message="the worker to register")

    if point == "idle":
        job = None
        fault_redis.stop(keep_data=True)
    elif point == "mid-handler":
        job = fault_handlers.hold.enqueue(str(tmp_path))
        wait_for(lambda: (tmp_path / "started-1").exists(), message="the handler to start")
        fault_redis.stop(keep_data=True)
        (tmp_path / "release").touch()  # the handler ends while Redis is away
    else:
        job = (
            fault_handlers.flaky.enqueue(1)
            if point == "recording-retry"
            else fault_handlers.count.enqueue(str(tmp_path))
        )
        wait_for(lambda: (tmp_path / f"paused-{pause_at}").exists(), message=f"the worker to pause at {pause_at}")
        fault_redis.stop(keep_data=True)
        (tmp_path / f"go-{pause_at}").touch()
    outage(fault_redis)

    if job is not None:
        wait_for(lambda: state_of(job) == Job.State.SUCCEEDED, timeout=90, message="the job in hand to succeed")
        job.refresh_from_db()
        if point == "recording-retry":
            assert job.attempts == 2  # the failed attempt recorded, its retry run once
        else:
            assert runs_of(tmp_path, job) == 1
    after = fault_handlers.count.enqueue(str(tmp_path))
    wait_for(lambda: state_of(after) == Job.State.SUCCEEDED, timeout=60, message="a new job to run")
    assert worker.poll() is None, processes.log(name)[-3000:]
    assert runs_of(tmp_path, after) == 1
    assert met_outage(processes.log(name))  # it did meet the outage, and waited
    assert_consistent()


def test_sigterm_during_an_outage_stops_an_idle_worker_cleanly(fault_redis, processes):
    """Waiting for Redis does not make a worker deaf: a supervisor can still stop it."""
    worker = processes.worker("faults-outage-stop")
    wait_for(lambda: "faults-outage-stop" in current_jobs(), message="the worker to register")
    fault_redis.stop(keep_data=True)
    wait_for(lambda: met_outage(processes.log("faults-outage-stop")), message="the worker to wait for Redis")

    worker.send_signal(signal.SIGTERM)
    assert processes.wait("faults-outage-stop", timeout=60) == 0, processes.log("faults-outage-stop")[-3000:]
