"""Tasks on real worker processes: `manage.py rqworker` finds tasks.py, and a worker killed mid-task loses nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs_app.sweeper import sweep
from jobs_app.tasks_compat import TaskResultStatus
from tests.polling import wait_for
from tests.testapp import tasks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

VICTIM = "test-task-victim"


@pytest.mark.parametrize(
    "command",
    [("rqworker", "default", "email", "--burst"), ("jobs_worker", "default", "email", "--num-workers", "1", "--burst")],
    ids=["rqworker", "jobs_worker pool"],
)
def test_a_worker_process_imports_tasks_py_and_runs_tasks(processes, command):
    added = tasks.add.enqueue(2, 3)
    echoed = tasks.echo.enqueue("hi")
    processes.manage("burst", *command)
    assert processes.wait("burst", timeout=120) == 0, processes.log("burst")
    added.refresh(), echoed.refresh()
    assert (added.status, added.return_value) == (TaskResultStatus.SUCCESSFUL, 5)
    assert (echoed.status, echoed.return_value) == (TaskResultStatus.SUCCESSFUL, {"args": ["hi"], "kwargs": {}})
    assert f"Succeeded: tests.testapp.tasks.add:{added.id}" in processes.log("burst")


def test_a_task_whose_worker_was_killed_is_retried_and_its_result_shows_the_lost_attempt(
    processes, redis, run_worker, tmp_path
):
    pid_file = tmp_path / "work-horse.pid"
    processes.worker(VICTIM)
    result = tasks.sleeps_first.enqueue(120, str(pid_file))
    horse = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), message="the task to start"))
    result.refresh()
    assert (result.status, result.worker_ids) == (TaskResultStatus.RUNNING, [VICTIM])
    # The worker and its work horse, as the kernel's OOM killer or a lost host would.
    processes.kill(VICTIM)
    processes.kill_pid(horse)
    processes.wait(VICTIM, timeout=10)

    # As in the repair's own killed-worker test: the dead worker's key goes as its heartbeat expiry would,
    # and the repair's grace period is measured from a minute on.
    redis.delete(f"rq:worker:{VICTIM}")
    assert sweep(now=timezone.now() + timedelta(seconds=61)).details["killed"] == 1
    result.refresh()
    assert result.status == TaskResultStatus.READY
    assert [error.exception_class_path for error in result.errors] == ["jobs_app.exceptions.WorkerDied"]
    assert f"worker {VICTIM} died" in result.errors[0].traceback

    run_worker("default")
    result.refresh()
    assert (result.status, result.return_value, result.attempts) == (TaskResultStatus.SUCCESSFUL, 2, 2)
    assert result.worker_ids[0] == VICTIM
