"""The documented way: `manage.py rqworker` as a real process, with a test app's handlers.py."""

import os
import subprocess

import pytest

from jobs_app import metrics
from jobs_app.models import Job
from tests.testapp import handlers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]


def test_manage_py_rqworker_runs_jobs_in_another_process(manage_py, subprocess_env):
    added = handlers.add.enqueue(2, 3)
    pid = handlers.pid.enqueue()
    failing = handlers.always_fails.enqueue("from a subprocess")
    finished = subprocess.run(
        [*manage_py, "rqworker", "default", "email", "--burst"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    added.refresh_from_db(), pid.refresh_from_db(), failing.refresh_from_db()
    assert (added.state, added.result) == (Job.State.SUCCEEDED, 5)
    assert pid.state == Job.State.SUCCEEDED and pid.result != os.getpid()
    assert (failing.state, failing.attempts, failing.history.count()) == (Job.State.FAILED, 3, 3)
    assert f"Processing: test.add:{added.pk} (attempt 1/3)" in finished.stderr
    assert f"Failed: test.always_fails:{failing.pk}" in finished.stderr
    # Counted by the work horses, on their worker's own Redis connection.
    attempts = metrics.read_counters().attempts
    assert (attempts[("test.add", "succeeded")], attempts[("test.always_fails", "failed")]) == (1, 3)
