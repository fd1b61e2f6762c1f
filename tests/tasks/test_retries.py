"""Retries for django.tasks functions: `@retry_policy`, backend OPTIONS, and what the worker does with them."""

import pytest

from jobs_app import Backoff, retry_policy
from jobs_app.models import Job
from jobs_app.retries import RetryPolicy, policy_of
from jobs_app.tasks_compat import TaskResultStatus
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_retry_policy_leaves_the_function_itself_for_task_to_wrap():
    def send(to):
        return to

    assert retry_policy(attempts=5)(send) is send
    assert policy_of(send) == RetryPolicy(attempts=5)


def test_a_policy_fills_what_it_leaves_unsaid_from_the_fallbacks_in_order():
    own = RetryPolicy(attempts=5)
    by_path = RetryPolicy(attempts=9, timeout=10.0)
    backend = RetryPolicy(attempts=2, timeout=20.0, backoff=Backoff.fixed(3))
    assert own.over(by_path, backend) == RetryPolicy(attempts=5, timeout=10.0, backoff=Backoff.fixed(3))


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"attempts": 0}, ValueError, "@retry_policy: attempts must be a whole number of at least 1"),
        ({"backoff": 5}, TypeError, "@retry_policy: backoff must be Backoff"),
        ({"give_up_on": ("ValueError",)}, TypeError, "@retry_policy: give_up_on must be a tuple of exception classes"),
        ({"timeout": -1}, ValueError, "timeout must be a finite, non-negative number"),
    ],
)
def test_bad_options_raise_where_the_decorator_is_written(options, error, message):
    with pytest.raises(error, match=message):
        retry_policy(**options)


def test_retry_policy_over_task_instead_of_under_it_is_a_clear_error():
    with pytest.raises(TypeError, match="goes under @task"):
        retry_policy(attempts=2)(tasks.add)


def test_two_retry_policies_on_one_function_are_refused():
    def send(to):
        return to

    with pytest.raises(TypeError, match="two @retry_policy"):
        retry_policy(attempts=2)(retry_policy(timeout=3)(send))


def test_the_policy_resolves_task_then_task_path_then_backend_then_jobs_app_defaults():
    raises = Job.objects.get(pk=tasks.raises.enqueue("x").id)
    assert (raises.max_attempts, raises.backoff, raises.timeout) == (5, Backoff.fixed(0).to_dict(), 30)
    by_path = Job.objects.get(pk=tasks.configured_by_path.enqueue("x").id)
    assert (by_path.max_attempts, by_path.backoff, by_path.timeout) == (4, Backoff.fixed(0).to_dict(), None)
    plain = Job.objects.get(pk=tasks.add.enqueue(1, 2).id)
    assert (plain.max_attempts, plain.backoff, plain.timeout) == (2, Backoff.fixed(0).to_dict(), None)


def test_a_task_is_retried_with_django_context_until_it_succeeds(run_worker):
    result = tasks.succeeds_on_attempt.enqueue(3)
    run_worker()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"attempt": 3, "id": result.id, "workers": 3}
    assert result.attempts == 3 and len(result.worker_ids) == 3
    assert [error.exception_class_path for error in result.errors] == ["builtins.RuntimeError"] * 2
    assert "RuntimeError: attempt 1 fails" in result.errors[0].traceback
    assert result.errors[0].exception_class is RuntimeError


def test_transient_errors_retry_until_the_attempts_run_out_then_the_task_failed(run_worker):
    result = tasks.raises.enqueue("flaky")
    run_worker()
    result.refresh()
    assert (result.status, Job.objects.get(pk=result.id).state) == (TaskResultStatus.FAILED, Job.State.FAILED)
    assert [error.exception_class_path for error in result.errors] == ["jobs_app.exceptions.TransientError"] * 5
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value


@pytest.mark.parametrize(
    ("task", "argument", "path"),
    [
        (tasks.raises, "value", "builtins.ValueError"),  # the task's give_up_on
        (tasks.raises, "permanent", "jobs_app.exceptions.PermanentError"),
        (tasks.configured_by_path, "key", "builtins.KeyError"),  # give_up_on from OPTIONS["tasks"]
    ],
)
def test_give_up_errors_end_the_task_after_one_attempt(run_worker, task, argument, path):
    result = task.enqueue(argument)
    run_worker()
    result.refresh()
    job = Job.objects.get(pk=result.id)
    assert (result.status, job.state, job.attempts) == (TaskResultStatus.FAILED, Job.State.DEAD, 1)
    assert [error.exception_class_path for error in result.errors] == [path]


def test_errors_outside_give_up_on_use_every_attempt(run_worker):
    result = tasks.configured_by_path.enqueue("other")
    run_worker()
    result.refresh()
    assert (result.status, len(result.errors), result.attempts) == (TaskResultStatus.FAILED, 4, 4)


def test_a_task_running_past_its_timeout_fails_that_attempt(run_worker):
    result = tasks.slow.enqueue(10)
    run_worker()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert [error.exception_class_path for error in result.errors] == ["jobs_app.exceptions.JobTimeout"]
