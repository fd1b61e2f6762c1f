"""repair.py with a real worker killed by SIGKILL mid-job: the repair records it and the job runs again."""

import os
import signal
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs_app.models import Job, JobAttempt
from jobs_app.sweeper import sweep
from tests.polling import wait_for
from tests.testapp import handlers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

WORKER_NAME = "test-sweeper-victim"


def test_a_job_whose_worker_was_killed_is_recorded_as_killed_and_runs_again(
    redis, subprocess_env, manage_py, run_worker, tmp_path
):
    pid_file = tmp_path / "work-horse.pid"
    worker = subprocess.Popen(
        [*manage_py, "rqworker", "default", "--with-scheduler", "--name", WORKER_NAME],
        env=subprocess_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the work horse dies with it
    )
    try:
        job = handlers.sweeper_sleeps_first.enqueue(120, str(pid_file))
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), message="the job to start")
    finally:
        # Both the worker and its work horse (RQ puts the horse in a process group of its own), as
        # the kernel's OOM killer or a lost host would.
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        if pid_file.exists() and pid_file.read_text():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    job.refresh_from_db()
    assert (job.state, job.worker_name) == (Job.State.RUNNING, WORKER_NAME)

    # A SIGKILLed worker leaves its key in Redis until its heartbeat expires (worker_ttl + 60 s at
    # the least). Delete it as that expiry would, rather than wait a minute and more.
    redis.delete(f"rq:worker:{WORKER_NAME}")
    # The job started moments ago: measure the repair's grace period from a minute on.
    result = sweep(now=timezone.now() + timedelta(seconds=61))

    assert result.details["killed"] == 1
    job.refresh_from_db()
    assert job.state in (Job.State.SCHEDULED, Job.State.QUEUED)
    assert list(job.history.values_list("outcome", "number")) == [(JobAttempt.Outcome.KILLED, 1)]

    run_worker("default")
    job.refresh_from_db()
    assert (job.state, job.result, job.attempts) == (Job.State.SUCCEEDED, 2, 2)
    assert list(job.history.values_list("outcome", flat=True)) == ["killed", "succeeded"]
