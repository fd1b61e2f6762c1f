"""`manage.py jobs_worker`, the production pool, as a real process (its faults: tests/faults/test_pool.py)."""

import os
import subprocess

import pytest

from jobs_app.models import Job
from tests.testapp import handlers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]


def jobs_worker(manage_py, env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*manage_py, "jobs_worker", *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_pool_runs_jobs_in_its_processes_and_exits_when_the_queues_are_empty(manage_py, subprocess_env):
    added = handlers.add.enqueue(2, 3)
    echoed = handlers.echo.enqueue("hi")
    failing = handlers.always_fails.enqueue("from the pool")

    finished = jobs_worker(manage_py, subprocess_env, "default", "email", "--num-workers", "2", "--burst")

    assert finished.returncode == 0, finished.stderr
    for job in (added, echoed, failing):
        job.refresh_from_db()
    assert (added.state, added.result) == (Job.State.SUCCEEDED, 5)
    assert echoed.state == Job.State.SUCCEEDED
    assert (failing.state, failing.attempts, failing.history.count()) == (Job.State.FAILED, 3, 3)
    assert "Pool" in finished.stdout and "0 process(es) killed" in finished.stdout


def test_max_jobs_recycles_a_process_and_the_pool_replaces_it(manage_py, subprocess_env):
    jobs = [handlers.pid.enqueue() for _ in range(3)]

    finished = jobs_worker(manage_py, subprocess_env, "default", "--num-workers", "1", "--max-jobs", "1", "--burst")

    assert finished.returncode == 0, finished.stderr
    pids = set()
    for job in jobs:
        job.refresh_from_db()
        assert job.state == Job.State.SUCCEEDED
        pids.add(job.result)
    assert len(pids) == 3 and os.getpid() not in pids  # one process per job, each replaced
    assert "recycled after 1 job(s): --max-jobs 1 reached" in finished.stderr


def test_a_process_past_max_memory_is_recycled_after_its_job(manage_py, subprocess_env):
    jobs = [handlers.pid.enqueue() for _ in range(2)]

    # Every Python process is above 1 MB: each job ends with its process replaced.
    finished = jobs_worker(manage_py, subprocess_env, "default", "--num-workers", "1", "--max-memory", "1", "--burst")

    assert finished.returncode == 0, finished.stderr
    pids = {Job.objects.get(pk=job.pk).result for job in jobs}
    assert len(pids) == 2
    assert "MB above --max-memory 1 MB" in finished.stderr


def test_unknown_queue_is_a_clear_error(manage_py, subprocess_env):
    finished = jobs_worker(manage_py, subprocess_env, "nosuchqueue", "--burst")

    assert finished.returncode == 1
    assert "Queue 'nosuchqueue' is not in settings.RQ_QUEUES" in finished.stderr
