"""jobs_app's RQ worker and job classes, named in `settings.RQ` (see docs/workers.md).

- The job class imports nothing but jobs_app's entry point (and the functions a
  project allow-lists), so a job planted in Redis cannot make a worker call
  `os.system` or any other callable.
- The worker decodes JSON only, whatever `--serializer` says, and drains each
  logical queue's high-priority RQ queue before its normal and low ones.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import rq
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import worker_registration
from rq.serializers import JSONSerializer

from . import (
    lean,
    runner,  # noqa: F401  (imported once here, so a forked work horse need not import it per job)
    transport,
)
from .conf import app_settings
from .exceptions import ForbiddenJobFunction
from .logs import job_id_extra
from .states import Priority

logger = logging.getLogger("jobs_app")


def allowed_functions() -> frozenset[str]:
    return frozenset({transport.ENTRY_POINT, *app_settings.ALLOWED_RQ_FUNCTIONS})


class Job(rq.job.Job):
    """An RQ job that refuses to import any callable outside the allow-list."""

    def _check_allowed(self, name: str | None, what: str) -> None:
        if name is not None and name not in allowed_functions():
            logger.error(
                "Refused: RQ job %s names %s %r, which jobs_app workers do not run "
                '(allow it in JOBS_APP["ALLOWED_RQ_FUNCTIONS"] if it is yours)',
                self.id,
                what,
                name,
                extra=job_id_extra(self.id, outcome="refused"),
            )
            raise ForbiddenJobFunction(f"RQ job {self.id}: {what} {name!r} is not allowed")

    @property
    def func(self) -> Any:
        if self.instance is not None:
            self._check_allowed(f"a method of {type(self.instance).__name__}", "callable")
        self._check_allowed(self.func_name, "function")
        return super().func

    @property
    def success_callback(self) -> Any:
        self._check_allowed(self._success_callback_name, "success callback")
        return super().success_callback

    @property
    def failure_callback(self) -> Any:
        self._check_allowed(self._failure_callback_name, "failure callback")
        return super().failure_callback

    @property
    def stopped_callback(self) -> Any:
        self._check_allowed(self._stopped_callback_name, "stopped callback")
        return super().stopped_callback

    def send_webhooks(self, *args: Any, **kwargs: Any) -> None:
        # jobs_app never sets webhooks; one planted in Redis must not make the worker call out.
        return None


def expand_priority_queues(queues: list[Any], connection: Any, job_class: type[rq.job.Job]) -> list[rq.Queue]:
    """Each logical queue becomes its RQ queues, all high ones first, then normal, then low."""
    expanded: list[rq.Queue] = []
    for priority in Priority.values:
        for queue in queues:
            name = queue if isinstance(queue, str) else queue.name
            if name.rsplit(":", 1)[-1] in Priority.values and ":" in name:
                # Already one priority's RQ queue: keep it once, in the normal slot.
                if priority == Priority.NORMAL:
                    expanded.append(_queue(name, connection, job_class))
                continue
            expanded.append(_queue(transport.rq_queue_name(name, priority), connection, job_class))
    return expanded


def _queue(name: str, connection: Any, job_class: type[rq.job.Job]) -> rq.Queue:
    return rq.Queue(name, connection=connection, serializer=JSONSerializer, job_class=job_class)


if TYPE_CHECKING:  # the mixin's `super()` is RQ's worker: let the type checker see it
    _RQWorker = rq.Worker
else:
    _RQWorker = object


class _JobsAppWorkerMixin(_RQWorker):
    def __init__(self, queues: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(queues, str | rq.Queue):
            queues = [queues]
        queues = list(queues)
        connection = kwargs.get("connection") or (queues[0].connection if isinstance(queues[0], rq.Queue) else None)
        job_class = kwargs.get("job_class")
        if not (isinstance(job_class, type) and issubclass(job_class, Job)):
            job_class = Job
        kwargs.update(connection=connection, job_class=job_class, serializer=JSONSerializer, queue_class=rq.Queue)
        super().__init__(expand_priority_queues(queues, connection, job_class), *args, **kwargs)

    _jobs_app_current_job: str | None = None

    def set_current_job_id(self, job_id: str | None = None, pipeline: Any = None) -> None:
        self._jobs_app_current_job = job_id
        super().set_current_job_id(job_id, pipeline=pipeline)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat, after registering the worker again if Redis lost its registration.

        A Redis restarted without persistence (or flushed) forgets every worker; RQ's own
        heartbeat would then keep a bare key that no listing of workers shows, so the health
        check would report no worker and the sweeper's repair would take this worker's
        running job for a lost one and run it a second time.
        """
        if pipeline is not None:  # the caller executes it: the next beat of our own looks
            return super().heartbeat(timeout, pipeline=pipeline)
        try:
            # One round trip for the look and RQ's beat (RQ alone sends its two commands apart).
            # Not `exists`: RQ's other writes, its beat included, recreate a bare key.
            with self.connection.pipeline() as beat:
                beat.hexists(self.key, "birth")
                super().heartbeat(timeout, pipeline=beat)
                registered = beat.execute()[0]
            if not registered and self.birth_date is not None:
                self._register_again()
        except RedisConnectionError as error:
            logger.warning("Worker %s: heartbeat skipped, Redis cannot be reached (%s)", self.name, error)

    def _register_again(self) -> None:
        logger.warning("Worker %s: its registration is gone from Redis (restarted or flushed); registering again",
                       self.name)  # fmt: skip
        fields = self.serialize()
        if self._jobs_app_current_job:
            fields["current_job"] = self._jobs_app_current_job
        with self.connection.pipeline() as registration:
            registration.hset(self.key, mapping=fields)
            worker_registration.register(self, registration)
            registration.expire(self.key, self.worker_ttl + 60)
            registration.execute()

    # RQ's worker survives Redis going away only while it waits for a job; anywhere else in its loop
    # the ConnectionError ends the worker ("found an unhandled exception, quitting"). These steps can
    # wait for the next round instead, and the wait for a job backs off until Redis is back.

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()
        except RedisConnectionError as error:
            logger.warning("Worker %s: maintenance skipped, Redis cannot be reached (%s)", self.name, error)

    def check_for_suspension(self, burst: bool) -> None:
        try:
            super().check_for_suspension(burst)
        except RedisConnectionError as error:
            logger.warning("Worker %s: suspension check skipped, Redis cannot be reached (%s)", self.name, error)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is not None:
            return super().set_state(state, pipeline=pipeline)
        try:
            super().set_state(state)
        except RedisConnectionError as error:
            logger.warning("Worker %s: state %s not saved, Redis cannot be reached (%s)", self.name, state, error)

    def maintain_heartbeats(self, job: rq.job.Job) -> None:
        try:
            super().maintain_heartbeats(job)
        except RedisConnectionError as error:
            logger.warning("Worker %s: heartbeat skipped, Redis cannot be reached (%s)", self.name, error)

    def handle_job_success(self, job: rq.job.Job, queue: rq.Queue, started_job_registry: Any) -> None:
        """After a jobs_app attempt, the row holds the outcome: RQ need keep nothing.

        RQ's own path with `result_ttl=0` deletes the job through every registry it might
        be in, and looks for dependents and repeats jobs_app never sets; here the job is
        only in the started registry, so one pipeline drops it there and deletes its hash.
        """
        if job.func_name != transport.ENTRY_POINT:
            return super().handle_job_success(job, queue, started_job_registry)
        with self.connection.pipeline() as pipeline:
            self.increment_successful_job_count(pipeline=pipeline)
            worked = job.ended_at - job.started_at if job.ended_at and job.started_at else timedelta(0)
            self.increment_total_working_time(worked, pipeline)
            self.cleanup_execution(job, pipeline=pipeline)
            pipeline.delete(job.key)
            pipeline.execute()


class Worker(_JobsAppWorkerMixin, rq.Worker):
    """The forking worker (one work horse per job): for handlers that need a process of their own per job."""


class SimpleWorker(lean.LeanWorkerMixin, _JobsAppWorkerMixin, rq.SimpleWorker):
    """Runs jobs in the worker process itself; the production pool (jobs_app.pool) runs N of them.

    jobs_app's own jobs take the lean path of `jobs_app.lean` (RQ's bookkeeping in fewer round trips).
    """
