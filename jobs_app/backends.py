"""`JobsAppBackend`: jobs_app as a `django.tasks` backend (Django 6, or Django 5.2 with the django-tasks backport).

    TASKS = {"default": {"BACKEND": "jobs_app.backends.JobsAppBackend", "QUEUES": ["default", "email"]}}

Each `@task` function becomes a jobs_app handler named by the task's module path, registered when the
module that declares it is imported (workers import every installed app's `tasks.py`). A task's job is
an ordinary `Job` row: the admin, the API, the sweeper and the runner treat it like any handler's.
See docs/tasks-backend.md.
"""

from __future__ import annotations

import builtins
import functools
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal
from django.utils.module_loading import autodiscover_modules, import_string

from . import exceptions
from .registry import Handler, register
from .retries import RetryPolicy, policy_of
from .signals import attempt_recorded
from .states import Priority, State
from .tasks_compat import (
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
    task_finished,
    task_started,
)

if TYPE_CHECKING:
    from .models import Job

logger = logging.getLogger("jobs_app")

STATUS: dict[str, TaskResultStatus] = {
    State.SCHEDULED: TaskResultStatus.READY,
    State.QUEUED: TaskResultStatus.READY,
    State.RUNNING: TaskResultStatus.RUNNING,
    State.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    State.FAILED: TaskResultStatus.FAILED,
    State.DEAD: TaskResultStatus.FAILED,
    State.CANCELLED: TaskResultStatus.FAILED,
}
# The states in which an attempt has finished the task (SUCCESSFUL or FAILED): `task_finished` is sent.
FINISHED_BY_ATTEMPT = frozenset({State.SUCCEEDED, State.FAILED, State.DEAD})
# JobAttempt.FAILURES, spelt out: models are imported where used, so that a `@task` module may be
# imported before the app registry is ready (from a models.py, say), as with Django's own backends.
_FAILED_OUTCOMES = ("failed", "killed", "timed_out")

# Every task a JobsAppBackend has validated, by module path (its handler's name). The worker finds a
# job's task here, never by importing the path stored on the row.
_tasks: dict[str, Task] = {}


def priority_of(priority: int) -> Priority:
    """Django's priority (-100 to 100, default 0) as jobs_app's: above 0 high, 0 normal, below 0 low."""
    if priority > 0:
        return Priority.HIGH
    if priority < 0:
        return Priority.LOW
    return Priority.NORMAL


class JobsAppBackend(BaseTaskBackend):
    """Runs `django.tasks` tasks as jobs_app jobs: durable rows, retries, history, the admin and the sweeper.

    OPTIONS: `attempts`, `backoff`, `give_up_on` and `timeout` (defaults for this backend's tasks), and
    `tasks`: {task module path: {the same options}}. An empty QUEUES allows every queue in RQ_QUEUES.
    """

    supports_defer = True
    supports_priority = True
    supports_get_result = True

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        if not self.queues:
            self.queues = set(getattr(settings, "RQ_QUEUES", {}))
        label = f"TASKS[{alias!r}]['OPTIONS']"
        options = dict(self.options)
        per_task = options.pop("tasks", {})
        self.retry_policy = RetryPolicy.from_options(label, options)
        if not isinstance(per_task, dict) or not all(isinstance(path, str) for path in per_task):
            raise ImproperlyConfigured(f"{label}['tasks'] must map task module paths to dicts of retry options")
        self.task_policies = {
            path: RetryPolicy.from_options(f"{label}['tasks'][{path!r}]", policy) for path, policy in per_task.items()
        }

    def policy_for(self, task: Task) -> RetryPolicy:
        """The task's retry policy: its `@retry_policy`, then OPTIONS["tasks"][path], then OPTIONS."""
        return policy_of(task.func).over(self.task_policies.get(task.module_path, RetryPolicy()), self.retry_policy)

    def handler_for(self, task: Task, *, at: datetime | None = None) -> Handler:
        """The jobs_app handler that runs `task`, with its queue, priority and retry policy."""
        return Handler(
            _runner(task),
            name=task.module_path,
            queue=task.queue_name,
            priority=priority_of(task.priority),
            takes_context=True,
            at=at,
            **self.policy_for(task).given(),
        )

    def validate_task(self, task: Task) -> None:
        """Django's checks, then the task is registered as a jobs_app handler under its module path."""
        super().validate_task(task)
        registered = _tasks.get(task.module_path)
        if registered is not None and registered.func is task.func:
            return
        register(self.handler_for(task))
        _tasks[task.module_path] = task

    def enqueue(self, task: Task, args: Sequence[Any], kwargs: dict[str, Any]) -> TaskResult:
        """Record a job for `task` in the caller's transaction (pushed to RQ on commit); `task_enqueued` is sent."""
        self.validate_task(task)
        job = self.handler_for(task, at=task.run_after).enqueue(*args, **kwargs)
        result = task_result_of(job, task, self.alias, history=())
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        """The task result of the job `result_id`; `TaskResultDoesNotExist` if it is no task's job."""
        from .models import Job

        try:
            job = Job.objects.filter(pk=uuid.UUID(str(result_id))).first()
        except ValueError:
            job = None
        if job is None:
            raise TaskResultDoesNotExist(f"No job has the id {result_id!r}")
        task = _tasks.get(job.handler)
        if task is None:
            raise TaskResultDoesNotExist(
                f"Job {result_id} is a job of {job.handler!r}, which is not a task registered in this process"
            )
        return task_result_of(job, self._as_enqueued(task, job), self.alias)

    def _as_enqueued(self, task: Task, job: Job) -> Task:
        changes: dict[str, Any] = {}
        if job.queue != task.queue_name:
            changes["queue_name"] = job.queue
        if task.backend != self.alias:
            changes["backend"] = self.alias
        try:
            return task.using(**changes) if changes else task
        except InvalidTask:
            return task

    def check(self, **kwargs: Any) -> Iterable[CheckMessage]:
        yield from super().check(**kwargs)
        configured = getattr(settings, "RQ_QUEUES", {})
        for queue in sorted(self.queues - set(configured)):
            yield Error(
                f"TASKS[{self.alias!r}] lists queue {queue!r}, which is not in RQ_QUEUES.",
                hint=f"Add {queue!r} to RQ_QUEUES, or take it out of QUEUES.",
                id="jobs_app.tasks.E001",
            )
        for path in sorted(set(self.task_policies) - set(_tasks)):
            yield Warning(
                f"TASKS[{self.alias!r}]['OPTIONS']['tasks'] names {path!r}, which is no registered task.",
                hint="Give the module path of a @task function (module.function) from an app's tasks.py.",
                id="jobs_app.tasks.W001",
            )


def _runner(task: Task) -> Callable[..., Any]:
    """The handler function of a task: Django's TaskContext and `task_started`, then the task's function."""

    @functools.wraps(task.func)
    def run(context: Any, *args: Any, **kwargs: Any) -> Any:
        if context.job is None:  # a plain inline call of the handler: no row, no signals
            return task.call(*args, **kwargs)
        result = task_result_of(context.job, task, task.backend)
        _send(task_started, task, result)
        if task.takes_context:
            return task.call(TaskContext(task_result=result), *args, **kwargs)
        return task.call(*args, **kwargs)

    return run


def attempt_ended(sender: Any, job: Job, **kwargs: Any) -> None:
    """After a worker recorded an attempt (jobs_app's `attempt_recorded`): `task_finished` if it finished a task."""
    task = _tasks.get(job.handler)
    if task is None or job.state not in FINISHED_BY_ATTEMPT:
        return
    try:
        _send(task_finished, task, task_result_of(job, task, task.backend))
    except Exception:  # the attempt is recorded: a failure to report it must not fail the RQ job
        logger.exception("Could not send task_finished for %s", job.label)


attempt_recorded.connect(attempt_ended, dispatch_uid="jobs_app.backends.attempt_ended")


def _send(signal: Signal, task: Task, result: TaskResult) -> None:
    # In the worker a receiver's error must not lose the attempt's record: log it and carry on.
    for receiver, response in signal.send_robust(type(task.get_backend()), task_result=result):
        if isinstance(response, Exception):
            logger.error("A receiver of a task signal (%r) raised", receiver, exc_info=response)


def task_result_of(job: Job, task: Task, alias: str, *, history: Sequence[tuple] | None = None) -> TaskResult:
    """Django's view of a job: status, times, arguments, an error per failed attempt, the workers, the result.

    Attempts are those of the job's current cycle (a re-run starts a new one).
    """
    from .models import JobAttempt

    if history is None:
        history = list(
            JobAttempt.objects.filter(job_id=job.pk, cycle=job.cycle)
            .order_by("number")
            .values_list("started_at", "outcome", "error_type", "error_message", "traceback", "worker_name")
        )
    status = STATUS[job.state]
    worker_ids = [worker for *_, worker in history]
    if job.state == State.RUNNING:
        worker_ids.append(job.worker_name)
    starts = [started_at for started_at, *_ in history]
    if job.state == State.RUNNING and job.started_at:
        starts.append(job.started_at)
    result: TaskResult = TaskResult(
        task=task,
        id=str(job.pk),
        status=status,
        enqueued_at=job.created_at,
        started_at=starts[0] if starts else None,
        last_attempted_at=starts[-1] if starts else None,
        finished_at=job.finished_at if status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED) else None,
        args=job.args,
        kwargs=job.kwargs,
        backend=alias,
        errors=[_task_error(*attempt[2:5]) for attempt in history if attempt[1] in _FAILED_OUTCOMES],
        worker_ids=worker_ids,
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", job.result)
    return result


def _task_error(error_type: str, message: str, traceback: str) -> TaskError:
    path = exception_path(error_type, message, traceback)
    # A killed attempt has no traceback (its worker died): its error line stands in.
    return TaskError(exception_class_path=path, traceback=traceback or f"{path}: {message}")


def exception_path(error_type: str, message: str, traceback: str) -> str:
    """The dotted path of an attempt's exception class, read from its stored traceback's last exception line.

    A row keeps the class's bare name; Python's traceback names it with its module (builtins aside).
    Nothing is imported: the path is only text for `TaskError`.
    """
    if not error_type:
        return "builtins.Exception"
    first_line = message.splitlines()[0] if message else ""
    line = re.compile(rf"^((?:[\w<>]+\.)*{re.escape(error_type)})(?:: (.*))?$", re.MULTILINE)
    path = error_type
    for match in line.finditer(traceback):
        if not first_line or (match.group(2) or "") == first_line:
            path = match.group(1)
    if "." in path:
        return path
    if isinstance(getattr(builtins, path, None), type):
        return f"builtins.{path}"
    if isinstance(getattr(exceptions, path, None), type):
        return f"{exceptions.__name__}.{path}"
    return path


def autodiscover_tasks() -> None:
    """Import every installed app's `tasks.py` when a TASKS backend is jobs_app's (its tasks register then)."""
    for config in getattr(settings, "TASKS", {}).values():
        try:
            backend = import_string(config.get("BACKEND", ""))
        except ImportError:
            continue  # Django reports a backend it cannot import
        if isinstance(backend, type) and issubclass(backend, JobsAppBackend):
            autodiscover_modules("tasks")
            return
