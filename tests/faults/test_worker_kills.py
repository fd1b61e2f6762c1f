"""A worker's work horse SIGKILLed, the whole worker SIGKILLed, and a SIGTERM, each in the middle of a job."""

import signal

import pytest

from jobs_app.models import Job, JobAttempt
from jobs_app.stats import current_jobs
from tests.faults.consistency import assert_consistent
from tests.faults.processes import sweep_once
from tests.polling import wait_for
from tests.testapp import fault_handlers

pytestmark = [pytest.mark.faults, pytest.mark.subprocess, pytest.mark.django_db(transaction=True)]


def started(tmp_path, attempt=1) -> int:
    """Wait for attempt `attempt` of the hold handler to start; its work horse's pid."""
    mark = tmp_path / f"started-{attempt}"
    return int(wait_for(lambda: mark.exists() and mark.read_text(), message=f"attempt {attempt} to start"))


def state_of(job) -> str:
    return Job.objects.values_list("state", flat=True).get(pk=job.pk)


def outcomes(job) -> list[str]:
    return list(job.history.order_by("cycle", "number").values_list("outcome", flat=True))


def test_a_killed_work_horse_is_recorded_as_a_killed_attempt_at_once_and_the_job_retried(processes, tmp_path):
    processes.worker("faults-horse")
    job = fault_handlers.hold.enqueue(str(tmp_path))
    horse = started(tmp_path)

    processes.kill_pid(horse)
    # The worker sees its work horse die and records the attempt itself, with no sweeper: the retry runs.
    wait_for(lambda: state_of(job) == Job.State.SUCCEEDED, message="the retry to succeed")
    assert processes.started["faults-horse"].poll() is None

    job.refresh_from_db()
    assert (job.attempts, job.result) == (2, 2)
    assert outcomes(job) == [JobAttempt.Outcome.KILLED, JobAttempt.Outcome.SUCCEEDED]
    message = job.history.get(number=1).error_message
    assert f"the work horse {horse} of faults-horse died (signal 9, SIGKILL)" in message
    assert_consistent()


def test_a_killed_worker_s_job_is_recovered_by_the_sweeper_and_run_again(processes, tmp_path, rq_redis):
    processes.worker("faults-victim")
    job = fault_handlers.hold.enqueue(str(tmp_path))
    horse = started(tmp_path)

    processes.kill("faults-victim")  # the worker's whole session...
    processes.kill_pid(horse)  # ...and its horse, in a session of its own: a lost host, the OOM killer
    processes.wait("faults-victim", timeout=10)
    assert state_of(job) == Job.State.RUNNING
    # A SIGKILLed worker's key outlives it until its heartbeat expires (7 minutes at the least):
    # delete it as that expiry would, rather than wait.
    rq_redis.delete("rq:worker:faults-victim")

    processes.worker("faults-successor")
    wait_for(lambda: sweep_once(processes)["details"]["killed"], timeout=30, message="the sweeper's repair")
    wait_for(lambda: state_of(job) == Job.State.SUCCEEDED, message="the retry to succeed")

    job.refresh_from_db()
    assert job.worker_name == "faults-successor"
    assert outcomes(job) == [JobAttempt.Outcome.KILLED, JobAttempt.Outcome.SUCCEEDED]
    assert "faults-victim died while running attempt 1" in job.history.get(number=1).error_message
    assert_consistent()


@pytest.mark.parametrize(
    "start",
    [lambda processes: processes.worker("faults-term"), lambda processes: processes.pool("faults-term")],
    ids=["forking worker", "pool"],
)
def test_sigterm_lets_the_running_job_finish_and_be_recorded_then_the_worker_exits_cleanly(processes, tmp_path, start):
    worker = start(processes)
    job = fault_handlers.hold.enqueue(str(tmp_path))
    started(tmp_path)

    processes.kill("faults-term", signal.SIGTERM)
    wait_for(lambda: "warm shut down requested" in processes.log("faults-term").lower(), message="the warm shutdown")
    assert worker.poll() is None  # still waiting for its job
    (tmp_path / "release").touch()

    assert processes.wait("faults-term", timeout=60) == 0
    job.refresh_from_db()
    assert (job.state, job.attempts, job.result) == (Job.State.SUCCEEDED, 1, 1)
    assert outcomes(job) == [JobAttempt.Outcome.SUCCEEDED]
    assert current_jobs() == {}  # every worker unregistered itself
    assert_consistent()
