"""One attempt on a real worker: success, retries, giving up, timeouts, hooks, logs, duplicates."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from rq import Queue

from jobs_app import runner, services, transport
from jobs_app.models import Job, JobAttempt
from jobs_app.signals import job_dead
from tests.factories import JobFactory
from tests.testapp import handlers

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_returning_handler_succeeds_with_its_result_stored(run_worker, redis):
    job = handlers.add.enqueue(2, 3)
    worker = run_worker()
    job.refresh_from_db()
    assert (job.state, job.result, job.attempts, job.progress) == (Job.State.SUCCEEDED, 5, 1, 100)
    assert job.started_at <= job.finished_at
    [attempt] = job.history.all()
    assert (attempt.cycle, attempt.number, attempt.outcome) == (1, 1, JobAttempt.Outcome.SUCCEEDED)
    assert attempt.duration == attempt.finished_at - attempt.started_at
    assert attempt.worker_name == job.worker_name == worker.name
    assert not redis.exists(f"rq:job:{job.pk}"), "the row keeps the result; RQ keeps nothing"


def test_log_lines_say_processing_then_succeeded(run_worker, caplog):
    job = handlers.add.enqueue(2, 3)
    with caplog.at_level(logging.INFO, logger="jobs_app"):
        run_worker()
    messages = [record.getMessage() for record in caplog.records if record.name == "jobs_app"]
    assert messages[0] == f"Processing: test.add:{job.pk} (attempt 1/3)"
    assert messages[1].startswith(f"Succeeded: test.add:{job.pk} after ")
    assert messages[1].endswith("ms (attempt 1/3)")


def test_a_raising_handler_is_retried_until_attempts_run_out_then_failed(run_worker, caplog):
    job = handlers.always_fails.enqueue("kaput")
    with caplog.at_level(logging.INFO, logger="jobs_app"):
        run_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts, job.error_type, job.error_message) == (
        Job.State.FAILED,
        3,
        "RuntimeError",
        "kaput",
    )
    assert job.failed_at is not None and job.finished_at == job.failed_at
    assert "RuntimeError: kaput" in job.traceback
    assert [(a.number, a.outcome) for a in job.history.all()] == [(n, "failed") for n in (1, 2, 3)]
    failed_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Failed:")]
    assert failed_lines[0].startswith(f"Failed: test.always_fails:{job.pk} after ")
    assert failed_lines[0].endswith("ms (attempt 1/3) - kaput")


def test_the_stored_traceback_shows_every_frame_and_the_error_without_caret_lines(run_worker):
    job = handlers.always_fails.enqueue("kaput")
    run_worker()
    job.refresh_from_db()
    lines = job.traceback.splitlines()
    assert lines[0] == "Traceback (most recent call last):" and lines[-1] == "RuntimeError: kaput"
    assert any(line.endswith(", in _call_with_timeout") and "jobs_app/runner.py" in line for line in lines)
    frame = lines.index(f'  File "{handlers.__file__}", line 43, in always_fails')
    assert lines[frame + 1] == "    raise RuntimeError(message)"
    assert not any(map(is_caret_line, lines)), "no caret lines under the source"
    attempt = job.history.last()
    assert attempt.traceback == job.traceback


def is_caret_line(line: str) -> bool:
    """Python 3.11's marks under a frame's source line (`^^^^`, `~~~~^^^^`)."""
    return bool(line.strip()) and set(line.strip()) <= {"^", "~"}


def test_on_retry_runs_before_each_retry_and_on_failure_once_at_the_end(run_worker):
    job = handlers.always_fails.enqueue("kaput")
    run_worker()
    assert handlers.hook_calls == [
        ("retry", str(job.pk), "kaput"),
        ("retry", str(job.pk), "kaput"),
        ("failure", str(job.pk), "kaput"),
    ]


def test_a_job_that_succeeds_on_a_later_attempt_keeps_the_failed_attempts_in_its_history(run_worker):
    job = handlers.succeeds_on_attempt.enqueue(3)
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.result, job.attempts, job.error_message) == (Job.State.SUCCEEDED, 3, 3, "")
    assert [a.outcome for a in job.history.all()] == ["failed", "failed", "succeeded"]


def test_a_failed_attempt_with_backoff_is_scheduled_in_the_row_and_in_rq(run_worker, redis, make_due):
    job = handlers.fails_with_backoff.enqueue()
    before = timezone.now()
    run_worker(with_scheduler=True)
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.SCHEDULED, 1)
    assert before + timedelta(seconds=29) < job.scheduled_for < timezone.now() + timedelta(seconds=31)
    registry = Queue("default", connection=redis).scheduled_job_registry
    assert registry.get_job_ids() == [str(job.pk)]

    run_worker(with_scheduler=True)  # not due yet: nothing runs
    job.refresh_from_db()
    assert job.attempts == 1

    make_due(job)
    run_worker(with_scheduler=True)
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.FAILED, 2)


def test_permanent_error_makes_the_job_dead_at_once_and_sends_job_dead(run_worker):
    received = []
    job_dead.connect(lambda sender, job, **kwargs: received.append(job.pk), weak=False, dispatch_uid="t")
    try:
        job = handlers.permanent.enqueue()
        run_worker()
    finally:
        job_dead.disconnect(dispatch_uid="t")
    job.refresh_from_db()
    assert (job.state, job.attempts, job.error_type) == (Job.State.DEAD, 1, "PermanentError")
    assert job.failed_at is not None
    assert received == [job.pk]
    assert handlers.hook_calls == [("failure", str(job.pk), "the address does not exist")]


@pytest.mark.parametrize(
    ("kind", "state", "attempts"),
    [("value", Job.State.DEAD, 1), ("key", Job.State.FAILED, 5), ("transient", Job.State.FAILED, 5)],
)
def test_give_up_on_makes_listed_errors_dead_and_retries_others(run_worker, kind, state, attempts):
    job = handlers.gives_up_on_value_error.enqueue(kind)
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts) == (state, attempts)


def test_a_hook_that_raises_is_logged_and_changes_nothing(run_worker, caplog):
    job = handlers.broken_hooks.enqueue()
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts, job.error_message) == (Job.State.FAILED, 2, "handler failed")
    assert f"The on_retry hook of test.broken_hooks:{job.pk} raised" in caplog.text
    assert f"The on_failure hook of test.broken_hooks:{job.pk} raised" in caplog.text


def test_a_handler_running_past_its_timeout_fails_that_attempt(run_worker):
    job = handlers.slow.enqueue(5)
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts, job.error_type) == (Job.State.FAILED, 1, "JobTimeout")
    assert "exceeded maximum timeout value (1 seconds)" in job.error_message
    assert job.history.get().duration < timedelta(seconds=3)
    assert job.history.get().outcome == "timed_out"  # told apart from an error the handler raised


def test_a_result_that_is_not_json_fails_the_attempt_with_a_clear_error(run_worker):
    job = handlers.returns_object.enqueue()
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts, job.error_type) == (Job.State.SCHEDULED, 1, "TypeError")
    assert "test.returns_object returned a object, which is not JSON-serialisable" in job.error_message


def test_a_name_that_is_no_longer_registered_fails_the_job_permanently(run_worker):
    job = JobFactory(handler="retired.handler")
    transport.push([transport.Dispatch(job_id=str(job.pk), handler=job.handler, queue=job.queue)])
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts, job.error_type) == (Job.State.DEAD, 1, "HandlerNotFound")
    assert "No job handler is registered under 'retired.handler'" in job.error_message


def test_a_context_handler_gets_its_row_and_attempt_and_records_progress(run_worker):
    job = handlers.progress.enqueue(4)
    run_worker()
    job.refresh_from_db()
    assert job.result == {"attempt": 1, "job_id": str(job.pk)}
    assert (job.progress, job.progress_message) == (100, "step 4")


def test_a_job_delivered_twice_runs_once(run_worker, redis):
    job = handlers.add.enqueue(2, 3)
    transport.push([services.dispatch_of(job)])
    assert Queue("default", connection=redis).count == 2
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts, job.history.count()) == (Job.State.SUCCEEDED, 1, 1)


@pytest.mark.parametrize("state", [Job.State.RUNNING, Job.State.SUCCEEDED, Job.State.CANCELLED])
def test_a_delivery_of_a_job_that_is_not_waiting_is_a_no_op(run_worker, caplog, state):
    job = JobFactory(state=state, attempts=1)
    transport.push([transport.Dispatch(job_id=str(job.pk), handler=job.handler, queue=job.queue)])
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts, job.history.count()) == (state, 1, 0)
    assert f"Skipped: test.add:{job.pk} is {state}, not waiting to run" in caplog.text


def test_a_scheduled_job_delivered_early_is_put_back_until_its_time(run_worker, redis):
    job = handlers.add.using(delay=timedelta(hours=1)).enqueue(1, 2)
    transport.push([transport.Dispatch(job_id=str(job.pk), handler=job.handler, queue=job.queue)])
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.SCHEDULED, 0)
    assert str(job.pk) in Queue("default", connection=redis).scheduled_job_registry


def test_a_delayed_job_runs_once_its_time_has_come(run_worker, make_due):
    job = handlers.add.using(delay=timedelta(minutes=5)).enqueue(1, 2)
    run_worker(with_scheduler=True)
    job.refresh_from_db()
    assert job.state == Job.State.SCHEDULED
    make_due(job)
    run_worker(with_scheduler=True)
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED


def test_high_priority_jobs_run_before_normal_and_normal_before_low(run_worker):
    low = handlers.add.using(priority="low").enqueue(1, 1)
    normal = handlers.add.enqueue(1, 1)
    high = handlers.add.using(priority="high").enqueue(1, 1)
    run_worker("default")
    started = {job.pk: job.started_at for job in Job.objects.all()}
    assert started[high.pk] < started[normal.pk] < started[low.pk]


def test_an_rq_job_without_a_row_is_skipped(run_worker, caplog):
    transport.push([transport.Dispatch(job_id="00000000-0000-0000-0000-000000000001", handler="x", queue="default")])
    run_worker()
    assert "Skipped: RQ job 00000000-0000-0000-0000-000000000001 has no Job row" in caplog.text


def test_a_retry_that_falls_due_during_its_delivery_is_deferred_not_dropped(monkeypatch, caplog):
    """Issue 15, defect 2: the claim and the look at a missed row read one clock.

    A clock that moves a second on each reading stands in for the time that passes between
    the two: the row is due half a second after the claim's reading.
    """

    start = timezone.now()
    job = JobFactory(state=Job.State.SCHEDULED, scheduled_for=start + timedelta(milliseconds=500))
    readings = iter(start + timedelta(seconds=second) for second in range(100))
    monkeypatch.setattr(timezone, "now", lambda: next(readings))

    with caplog.at_level(logging.INFO, logger="jobs_app"):
        outcome = runner.execute(str(job.pk))

    assert outcome is not None, "the delivery must be handed back to RQ, not dropped"
    assert outcome.intervals == [1]
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.SCHEDULED, 0)
    assert "Skipped" not in caplog.text
    assert f"Deferred: test.add:{job.pk} is scheduled for" in caplog.text


# Text that UTF-8 cannot encode (issue 15, defect 3): recorded safely, the real error kept.


def test_an_error_message_that_cannot_be_encoded_is_recorded_with_escapes_not_lost(run_worker):
    job = handlers.unencodable.enqueue("raise")
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.error_type, job.error_message) == (
        Job.State.FAILED,
        "RuntimeError",
        "broken \\ud800 text\\x00",
    )
    assert "RuntimeError: broken \\ud800 text\\x00" in job.traceback
    assert job.progress_message == "half \\ud800 way"
    [attempt] = job.history.all()
    assert (attempt.outcome, attempt.error_message) == (JobAttempt.Outcome.FAILED, "broken \\ud800 text\\x00")


def test_a_result_that_cannot_be_encoded_is_stored_with_escapes(run_worker):
    job = handlers.unencodable.enqueue("return")
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.result) == (Job.State.SUCCEEDED, {"text": "bad \\udfff", "\\ud800": 1})
