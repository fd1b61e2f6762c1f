"""The production pool (`manage.py jobs_worker`) against real faults: a job stuck past its hard time
limit, a process SIGKILLed, a second SIGTERM (cold stop) in the middle of a job, and recycling. None waits for
the sweeper. (A first SIGTERM: tests/faults/test_worker_kills.py, for the forking worker and the pool.)"""

import signal
import subprocess

import pytest

from jobs_app.models import Job, JobAttempt
from jobs_app.stats import current_jobs
from tests.faults.consistency import assert_consistent
from tests.polling import wait_for
from tests.testapp import fault_handlers, handlers

pytestmark = [pytest.mark.faults, pytest.mark.subprocess, pytest.mark.django_db(transaction=True)]


def started(tmp_path, attempt=1) -> int:
    """Wait for attempt `attempt` of a fault handler to start; the pid of the pool process running it."""
    mark = tmp_path / f"started-{attempt}"
    return int(wait_for(lambda: mark.exists() and mark.read_text(), message=f"attempt {attempt} to start"))


def outcomes(job) -> list[str]:
    return list(job.history.order_by("cycle", "number").values_list("outcome", flat=True))


def state_of(job) -> str:
    return Job.objects.values_list("state", flat=True).get(pk=job.pk)


def assert_retried_after_a_killed_attempt(job, pool, error: str) -> None:
    """The job succeeded on its retry after a `killed` first attempt, and the pool lives on at full strength."""
    wait_for(lambda: state_of(job) == Job.State.SUCCEEDED, message="the retry to succeed")
    job.refresh_from_db()
    assert outcomes(job) == [JobAttempt.Outcome.KILLED, JobAttempt.Outcome.SUCCEEDED]
    assert error in job.history.get(number=1).error_message
    assert pool.poll() is None
    wait_for(lambda: len(current_jobs()) == 2, message="the pool to replace the killed process")
    assert_consistent()


def test_a_job_stuck_past_its_hard_limit_is_killed_recorded_retried_and_its_process_replaced(
    processes, tmp_path, settings
):
    # The hard limit is RQ's job timeout: the handler's 1 s plus this margin, set where the job is pushed.
    settings.JOBS_APP = {**settings.JOBS_APP, "TIMEOUT_MARGIN": 1}
    pool = processes.pool("pool-stuck", "--num-workers", "2")
    job = fault_handlers.stuck.enqueue(str(tmp_path))
    stuck_pid = started(tmp_path)

    # No sweeper runs: the pool itself records the attempt and the retry runs in another process.
    assert started(tmp_path, attempt=2) != stuck_pid
    assert "Hard time limit" in processes.log("pool-stuck")
    assert_retried_after_a_killed_attempt(job, pool, "attempt 1 ran past its hard time limit")


def test_a_sigkilled_process_loses_nothing_its_job_is_retried_and_the_process_replaced(processes, tmp_path):
    pool = processes.pool("pool-victim", "--num-workers", "2")
    job = fault_handlers.hold.enqueue(str(tmp_path))
    victim = started(tmp_path)

    processes.kill_pid(victim)  # one process of the pool, as the OOM killer would

    assert started(tmp_path, attempt=2) != victim
    assert_retried_after_a_killed_attempt(job, pool, "died while running attempt 1")


def test_processes_are_recycled_after_max_jobs_and_replaced_while_the_pool_runs(processes):
    pool = processes.pool("pool-recycle", "--num-workers", "1", "--max-jobs", "2")
    jobs = [handlers.pid.enqueue() for _ in range(4)]

    wait_for(lambda: Job.objects.filter(state=Job.State.SUCCEEDED).count() == 4, message="the four jobs")

    pids = [Job.objects.get(pk=job.pk).result for job in jobs]
    assert len(set(pids)) == 2 and pids[0] == pids[1] and pids[2] == pids[3]
    wait_for(lambda: processes.log("pool-recycle").count("--max-jobs 2 reached") == 2, message="the second recycling")
    assert pool.poll() is None
    assert_consistent()


def test_a_process_idle_after_a_job_stays_listed_with_rq_s_full_heartbeat_ttl(processes, rq_redis):
    processes.pool("pool-idle", "--num-workers", "1")
    jobs = [handlers.pid.enqueue() for _ in range(5)]  # the first may be slow (imports, connecting); not all
    wait_for(lambda: all(state_of(job) == Job.State.SUCCEEDED for job in jobs), message="the jobs")

    # A job's own beat sets a TTL of its timeout + 60 s (270 s here); the pool skips most of RQ's beats,
    # but not the one after a job that restores the full worker TTL (420 + 60 s) for the wait that follows.
    def ttls():
        return [rq_redis.ttl(key) for key in rq_redis.smembers("rq:workers")]

    wait_for(lambda: ttls() and all(ttl > 420 for ttl in ttls()), timeout=10, message="the full TTL")


def test_a_second_sigterm_interrupts_the_job_in_hand_and_the_pool_records_its_attempt_killed(processes, tmp_path):
    pool = processes.pool("pool-cold", "--num-workers", "1")
    job = fault_handlers.hold.enqueue(str(tmp_path))
    started(tmp_path)
    processes.kill("pool-cold", signal.SIGTERM)
    wait_for(lambda: "warm shut down requested" in processes.log("pool-cold").lower(), message="the warm stop")

    # RQ takes a second signal within a second of the first for a duplicate: repeat it until the pool is gone.
    def cold_stopped() -> bool:
        processes.kill("pool-cold", signal.SIGTERM)
        try:
            pool.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            return False
        return True

    wait_for(cold_stopped, message="the cold stop")
    assert outcomes(job) == [JobAttempt.Outcome.KILLED]
    assert state_of(job) == Job.State.SCHEDULED  # retried by its policy, for the next worker: this one
    processes.pool("pool-next", "--num-workers", "1", "--burst")
    assert processes.wait("pool-next") == 0
    assert outcomes(job) == [JobAttempt.Outcome.KILLED, JobAttempt.Outcome.SUCCEEDED]
    assert_consistent()
