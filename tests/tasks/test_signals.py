"""Django's task signals: task_enqueued at enqueue, task_started for each attempt, task_finished once at the end;
and jobs_app's attempt_recorded, which the backend listens to."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs_app import services
from jobs_app.backends import JobsAppBackend
from jobs_app.models import Job
from jobs_app.signals import attempt_recorded
from jobs_app.sweeper import sweep
from jobs_app.tasks_compat import TaskResultStatus, task_enqueued, task_finished, task_started
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def received():
    """(signal name, sender, status, attempts) for every task signal, in order."""
    calls = []
    receivers = {}
    for name, signal in (("enqueued", task_enqueued), ("started", task_started), ("finished", task_finished)):

        def receiver(sender, task_result, name=name, **kwargs):
            calls.append((name, sender, task_result.status, task_result.attempts))

        receivers[signal] = receiver
        signal.connect(receiver)
    yield calls
    for signal, receiver in receivers.items():
        signal.disconnect(receiver)


def test_a_task_that_succeeds_sends_enqueued_started_and_finished(received, run_worker):
    tasks.add.enqueue(1, 2)
    assert received == [("enqueued", JobsAppBackend, TaskResultStatus.READY, 0)]
    run_worker()
    assert received[1:] == [
        ("started", JobsAppBackend, TaskResultStatus.RUNNING, 1),
        ("finished", JobsAppBackend, TaskResultStatus.SUCCESSFUL, 1),
    ]


def test_a_retried_task_starts_once_per_attempt_and_finishes_once(received, run_worker):
    tasks.succeeds_on_attempt.enqueue(2)
    run_worker()
    assert [call[0::2] for call in received] == [
        ("enqueued", TaskResultStatus.READY),
        ("started", TaskResultStatus.RUNNING),
        ("started", TaskResultStatus.RUNNING),
        ("finished", TaskResultStatus.SUCCESSFUL),
    ]
    assert received[-1][3] == 2


def test_a_task_that_gives_up_finishes_failed(received, run_worker):
    tasks.raises.enqueue("value")
    run_worker()
    assert received[-1] == ("finished", JobsAppBackend, TaskResultStatus.FAILED, 1)


def test_a_receiver_that_raises_in_the_worker_is_logged_and_the_task_still_succeeds(run_worker, caplog):
    def broken(sender, task_result, **kwargs):
        raise RuntimeError("receiver broke")

    task_started.connect(broken)
    task_finished.connect(broken)
    try:
        result = tasks.add.enqueue(2, 2)
        with caplog.at_level(logging.ERROR, logger="jobs_app"):
            run_worker()
    finally:
        task_started.disconnect(broken)
        task_finished.disconnect(broken)
    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 4)
    assert caplog.text.count("A receiver of a task signal") == 2


def test_the_runner_sends_attempt_recorded_after_each_attempt_with_the_state_it_left(run_worker):
    states = []

    def receiver(sender, job, **kwargs):
        states.append((sender, job.attempts, job.state))

    attempt_recorded.connect(receiver)
    try:
        tasks.succeeds_on_attempt.enqueue(2)
        run_worker()
    finally:
        attempt_recorded.disconnect(receiver)
    assert states == [(Job, 1, Job.State.SCHEDULED), (Job, 2, Job.State.SUCCEEDED)]


def test_a_task_whose_last_attempt_s_worker_died_finishes_failed_when_the_repair_records_it(received, redis):
    result = tasks.add.enqueue(1, 2)
    Job.objects.filter(pk=result.id).update(max_attempts=1)
    assert services.claim(result.id, worker_name="a-worker-that-died") is not None  # its worker never came back

    assert sweep(now=timezone.now() + timedelta(seconds=61)).details["killed"] == 1
    assert received[-1] == ("finished", JobsAppBackend, TaskResultStatus.FAILED, 1)
