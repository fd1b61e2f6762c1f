"""JobsAppBackend: enqueue, defer, priority, get_result, its settings and checks (jobs_app/backends.py)."""

import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from jobs_app import Backoff, HandlerNotFound, get_handler, job_handler, services, transport
from jobs_app.backends import JobsAppBackend, exception_path, priority_of
from jobs_app.models import Job
from jobs_app.tasks_compat import InvalidTask, TaskResultDoesNotExist, TaskResultStatus, task_backends
from tests.factories import JobFactory
from tests.testapp import handlers, tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_enqueue_records_a_job_under_the_task_path_and_returns_a_ready_result(redis):
    result = tasks.add.enqueue(2, 3)
    job = Job.objects.get(pk=result.id)
    assert (job.handler, job.queue, job.state, job.args, job.kwargs) == (
        "tests.testapp.tasks.add",
        "default",
        Job.State.QUEUED,
        [2, 3],
        {},
    )
    assert (result.status, result.enqueued_at, result.started_at, result.finished_at) == (
        TaskResultStatus.READY,
        job.created_at,
        None,
        None,
    )
    assert (result.args, result.kwargs, result.errors, result.worker_ids, result.backend) == (
        [2, 3],
        {},
        [],
        [],
        "default",
    )
    assert redis.lrange(f"rq:queue:{transport.rq_queue_name('default')}", 0, -1) == [result.id.encode()]


def test_the_worker_runs_a_task_and_get_result_reads_the_row(run_worker):
    result = tasks.echo.enqueue("hi", to="a@example.com")
    run_worker()
    fetched = tasks.echo.get_result(result.id)
    job = Job.objects.get(pk=result.id)
    attempt = job.history.get()
    assert fetched.status == TaskResultStatus.SUCCESSFUL
    assert fetched.return_value == {"args": ["hi"], "kwargs": {"to": "a@example.com"}}
    assert (fetched.started_at, fetched.last_attempted_at, fetched.finished_at) == (
        attempt.started_at,
        attempt.started_at,
        job.finished_at,
    )
    assert fetched.worker_ids == [job.worker_name] and fetched.attempts == 1
    assert fetched.task.func is tasks.echo.func and fetched.task.queue_name == "email"
    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, fetched.return_value)


def test_a_running_job_is_running_with_its_worker_listed():
    job = JobFactory(handler="tests.testapp.tasks.add", state=Job.State.RUNNING, attempts=1, worker_name="w1")
    job.started_at = timezone.now()
    job.save()
    result = tasks.add.get_result(str(job.pk))
    assert (result.status, result.worker_ids, result.started_at) == (TaskResultStatus.RUNNING, ["w1"], job.started_at)
    with pytest.raises(ValueError, match="not finished"):
        _ = result.return_value


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (Job.State.SCHEDULED, TaskResultStatus.READY),
        (Job.State.QUEUED, TaskResultStatus.READY),
        (Job.State.RUNNING, TaskResultStatus.RUNNING),
        (Job.State.SUCCEEDED, TaskResultStatus.SUCCESSFUL),
        (Job.State.FAILED, TaskResultStatus.FAILED),
        (Job.State.DEAD, TaskResultStatus.FAILED),
        (Job.State.CANCELLED, TaskResultStatus.FAILED),
    ],
)
def test_every_job_state_has_a_task_status(state, status):
    job = JobFactory(handler="tests.testapp.tasks.add", state=state)
    assert tasks.add.get_result(str(job.pk)).status == status


@pytest.mark.parametrize("result_id", ["not-a-uuid", str(uuid.uuid4())])
def test_an_unknown_id_is_task_result_does_not_exist(result_id):
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result(result_id)


def test_the_id_of_a_handler_job_is_no_task_result():
    job = handlers.add.enqueue(1, 2)
    with pytest.raises(TaskResultDoesNotExist, match="test.add"):
        task_backends["default"].get_result(str(job.pk))


def test_get_result_of_another_tasks_id_is_a_mismatch():
    result = tasks.add.enqueue(1, 2)
    with pytest.raises(Exception, match="Task does not match") as raised:
        tasks.echo.get_result(result.id)
    assert type(raised.value).__name__ == "TaskResultMismatch"


def test_the_async_variants_enqueue_and_read_results(run_worker):
    result = async_to_sync(tasks.add.aenqueue)(4, 5)
    run_worker()
    fetched = async_to_sync(tasks.add.aget_result)(result.id)
    assert (fetched.status, fetched.return_value) == (TaskResultStatus.SUCCESSFUL, 9)


def test_run_after_schedules_the_job_and_it_runs_once_due(run_worker, make_due):
    run_after = timezone.now() + timedelta(hours=1)
    result = tasks.add.using(run_after=run_after).enqueue(1, 1)
    job = Job.objects.get(pk=result.id)
    assert (job.state, job.scheduled_for, result.status) == (Job.State.SCHEDULED, run_after, TaskResultStatus.READY)
    run_worker()
    assert tasks.add.get_result(result.id).status == TaskResultStatus.READY
    make_due(job)
    run_worker(with_scheduler=True)
    assert tasks.add.get_result(result.id).return_value == 2


@pytest.mark.parametrize(
    ("priority", "expected"), [(100, "high"), (1, "high"), (0, "normal"), (-1, "low"), (-100, "low")]
)
def test_django_priorities_map_onto_high_normal_and_low(priority, expected, redis):
    assert priority_of(priority) == expected
    result = tasks.add.using(priority=priority).enqueue(1, 1)
    assert Job.objects.get(pk=result.id).priority == expected
    assert redis.lrange(f"rq:queue:{transport.rq_queue_name('default', expected)}", 0, -1) == [result.id.encode()]


def test_a_tasks_declared_priority_and_queue_hold_on_every_enqueue():
    job = Job.objects.get(pk=tasks.echo.enqueue().id)
    assert (job.queue, job.priority) == ("email", "high")


def test_high_priority_tasks_run_before_low_ones(run_worker):
    low = tasks.add.using(priority=-20).enqueue(1, 1)
    high = tasks.add.using(priority=20).enqueue(1, 1)
    run_worker("default")
    assert tasks.add.get_result(high.id).started_at < tasks.add.get_result(low.id).started_at


def test_arguments_that_are_not_json_raise_at_enqueue_and_record_nothing():
    with pytest.raises(TypeError, match=r"tests.testapp.tasks.add: argument 1 \(object\) is not JSON-serialisable"):
        tasks.add.enqueue(object(), 1)
    assert not Job.objects.exists()


def test_a_queue_the_backend_does_not_list_is_refused_by_django():
    with pytest.raises(InvalidTask, match="cleanup"):
        tasks.add.using(queue_name="cleanup")


def test_a_task_path_with_no_registered_task_fails_its_job_permanently(run_worker):
    job = JobFactory(handler="tests.testapp.tasks.retired")
    transport.push([transport.Dispatch(job_id=str(job.pk), handler=job.handler, queue=job.queue)])
    run_worker()
    job.refresh_from_db()
    assert (job.state, job.error_type) == (Job.State.DEAD, "HandlerNotFound")
    assert "'tests.testapp.tasks.retired'" in job.error_message and "tasks.py" in job.error_message


def test_tasks_are_registered_as_handlers_named_by_their_module_path():
    handler = get_handler("tests.testapp.tasks.echo")
    assert (handler.queue, handler.priority) == ("email", "high")
    with pytest.raises(HandlerNotFound):
        get_handler("tests.testapp.tasks.not_a_task")


def test_a_handler_may_not_take_a_tasks_name():
    def other(a, b):
        return a - b

    with pytest.raises(ImproperlyConfigured, match="Two job handlers are named 'tests.testapp.tasks.add'"):
        job_handler("tests.testapp.tasks.add")(other)
    assert get_handler("tests.testapp.tasks.add").func.__wrapped__ is tasks.add.func


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": 3}, r"unknown option\(s\) retries"),
        ({"attempts": 0}, "attempts must be a whole number of at least 1"),
        ({"backoff": 2}, "backoff must be Backoff"),
        ({"tasks": {"a.b": {"timeout": "soon"}}}, r"\['tasks'\]\['a.b'\].*timeout must be a number"),
        ({"tasks": ["a.b"]}, "must map task module paths"),
    ],
)
def test_bad_options_are_a_setup_error_naming_the_setting(options, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        JobsAppBackend("jobs", {"OPTIONS": options})


def test_no_queues_means_every_rq_queue():
    assert JobsAppBackend("jobs", {"QUEUES": []}).queues == {"default", "email", "cleanup", "notification"}


def test_checks_flag_queues_missing_from_rq_queues_and_options_for_unknown_tasks():
    backend = JobsAppBackend(
        "jobs",
        {"QUEUES": ["default", "nowhere"], "OPTIONS": {"tasks": {"tests.testapp.tasks.gone": {"attempts": 2}}}},
    )
    messages = {message.id: message.msg for message in backend.check()}
    assert set(messages) == {"jobs_app.tasks.E001", "jobs_app.tasks.W001"}
    assert "'nowhere'" in messages["jobs_app.tasks.E001"]
    assert "'tests.testapp.tasks.gone'" in messages["jobs_app.tasks.W001"]
    assert list(task_backends["default"].check()) == []


def test_options_take_backoff_for_every_task_of_the_backend():
    with override_settings(TASKS={"default": {"BACKEND": "jobs_app.backends.JobsAppBackend"}}):
        job = Job.objects.get(pk=tasks.add.enqueue(1, 1).id)
        assert (job.max_attempts, job.backoff) == (3, Backoff.exponential(1).to_dict())
    job = Job.objects.get(pk=tasks.add.enqueue(1, 1).id)
    assert (job.max_attempts, job.backoff) == (2, Backoff.fixed(0).to_dict())


@pytest.mark.parametrize(
    ("error_type", "message", "traceback", "path"),
    [
        ("ValueError", "bad", "Traceback (most recent call last):\n  ...\nValueError: bad\n", "builtins.ValueError"),
        ("Boom", "x", "Traceback:\n  ...\nshop.errors.Boom: x\n", "shop.errors.Boom"),
        ("Boom", "", "Traceback:\n  ...\nshop.errors.Boom\n", "shop.errors.Boom"),
        (
            "Boom",
            "two\nlines",
            "KeyError: 'a'\n\nDuring handling...\n\nshop.errors.Boom: two\nlines\n",
            "shop.errors.Boom",
        ),
        ("WorkerDied", "worker w died", "", "jobs_app.exceptions.WorkerDied"),
        ("Mystery", "", "", "Mystery"),
    ],
)
def test_exception_path_reads_the_dotted_class_from_the_stored_traceback(error_type, message, traceback, path):
    assert exception_path(error_type, message, traceback) == path


def test_a_failed_task_job_is_in_the_admin_and_the_api_and_reruns_like_a_handler_job(run_worker, admin_client):
    result = tasks.raises.enqueue("value")
    run_worker()
    failed_list = admin_client.get(reverse("admin:jobs_app_failedjob_changelist"))
    assert "tests.testapp.tasks.raises" in failed_list.content.decode()
    detail = admin_client.get(f"/api/jobs/{result.id}").json()
    assert (detail["handler"], detail["state"], detail["error_type"]) == (
        "tests.testapp.tasks.raises",
        "dead",
        "ValueError",
    )

    assert services.rerun(Job.objects.get(pk=result.id)).retried == 1
    result.refresh()
    assert (result.status, result.errors, result.worker_ids) == (TaskResultStatus.READY, [], [])
    run_worker()
    result.refresh()
    assert (result.status, len(result.errors)) == (TaskResultStatus.FAILED, 1)
    assert Job.objects.get(pk=result.id).history.count() == 2
