"""jobs_app's RQ worker and job classes, named in `settings.RQ` (see docs/workers.md).

- The job class imports nothing but jobs_app's entry point (and the functions a
  project allow-lists), so a job planted in Redis cannot make a worker call
  `os.system` or any other callable.
- The worker decodes JSON only, whatever `--serializer` says, and drains each
  logical queue's high-priority RQ queue before its normal and low ones.
- Nothing read from Redis can stop a worker: an RQ job that is forbidden or malformed
  is refused when it is loaded, wherever RQ loads it (the queue, the registries'
  cleanup, dependents, the scheduler), moved aside to `jobs_app:quarantine:<id>` and
  logged once; RQ then goes on as for a job that is gone.
- A worker waits through a Redis outage in every state (idle, running a job, recording
  it) and carries on where it was: its connection retries until Redis answers again.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import rq
from django.db import DEFAULT_DB_ALIAS, connections
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from rq import worker_registration
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import NoSuchJobError, StopRequested
from rq.group import Group
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    StartedJobRegistry,
    clean_registries,
)
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.utils import as_text, now
from rq.worker import WorkerStatus

from . import horse, lean, runner, transport
from .conf import app_settings
from .exceptions import ForbiddenJobFunction
from .logs import job_id_extra
from .states import Priority

logger = logging.getLogger("jobs_app")


QUARANTINE_PREFIX = "jobs_app:quarantine:"
QUARANTINE_TTL = 7 * 24 * 3600
_SCREEN_BATCH = 500


def allowed_functions() -> frozenset[str]:
    return frozenset({transport.ENTRY_POINT, *app_settings.ALLOWED_RQ_FUNCTIONS})


def _refusal(name: str, what: str) -> str:
    return (f"names {what} {name!r}, which jobs_app workers do not run "
            '(allow it in JOBS_APP["ALLOWED_RQ_FUNCTIONS"] if it is yours)')  # fmt: skip


class Job(rq.job.Job):
    """An RQ job that refuses to import any callable outside the allow-list.

    Loading one (`fetch`, `fetch_many`, `refresh`) checks it first: a job that names a
    callable or callback outside the allow-list, or whose hash RQ cannot read (data that
    is not JSON of the right shape, a bad date, status or number), is quarantined and
    reported as gone (`NoSuchJobError`), which every RQ code path that loads jobs
    already takes in its stride.
    """

    def restore(self, raw_data: Any) -> None:
        try:
            super().restore(raw_data)
            self._check_loaded()
        except Exception as error:  # whatever a planted or damaged hash makes RQ raise
            self._quarantine(error)
            raise NoSuchJobError(f"RQ job {self.id} was refused and quarantined: {error}") from error

    def _check_loaded(self) -> None:
        self._deserialize_data()
        if not isinstance(self._func_name, str) or self._instance is not None:
            raise ForbiddenJobFunction("its data names no plain function")
        if not isinstance(self._args, list) or not isinstance(self._kwargs, dict):
            raise ValueError("its arguments are not a list and a mapping")
        for name, what in (
            (self._func_name, "function"),
            (self._success_callback_name, "success callback"),
            (self._failure_callback_name, "failure callback"),
            (self._stopped_callback_name, "stopped callback"),
        ):
            if name is not None and name not in allowed_functions():
                raise ForbiddenJobFunction(_refusal(name, what))

    def _quarantine(self, error: Exception) -> None:
        """Move this job's hash to `jobs_app:quarantine:<id>` (kept a week, for a look), and log it once."""
        reason = f"{type(error).__name__}: {error}" if not isinstance(error, ForbiddenJobFunction) else str(error)
        target = f"{QUARANTINE_PREFIX}{self.id}"
        with self.connection.pipeline() as pipeline:
            pipeline.rename(self.key, target)
            pipeline.hset(target, mapping={"jobs_app_refused": reason[:1000], "jobs_app_refused_at": now().isoformat()})
            pipeline.expire(target, QUARANTINE_TTL)
            pipeline.execute(raise_on_error=False)  # a hash already gone is no error
        logger.error("Refused: RQ job %s %s; quarantined as %s for %d days, no worker will load it",
                     self.id, reason, target, QUARANTINE_TTL // 86400,
                     extra=job_id_extra(self.id, outcome="refused"))  # fmt: skip

    @classmethod
    def fetch_many(cls, job_ids: Iterable[str], connection: Redis, serializer: Any = None) -> list[rq.job.Job | None]:
        """RQ's `fetch_many`, with `None` for a job refused on loading as for one that is gone."""
        ids = [rq.job.parse_job_id(job_id) for job_id in job_ids]
        with connection.pipeline() as pipeline:
            for job_id in ids:
                pipeline.hgetall(cls.key_for(job_id))
            found = pipeline.execute()
        jobs: list[rq.job.Job | None] = []
        for job_id, raw in zip(ids, found, strict=True):
            job = cls(job_id, connection=connection, serializer=serializer) if raw else None
            try:
                if job is not None:
                    job.restore(raw)
            except NoSuchJobError:
                job = None
            jobs.append(job)
        return jobs

    def _check_allowed(self, name: str | None, what: str) -> None:
        if name is not None and name not in allowed_functions():
            logger.error("Refused: RQ job %s %s", self.id, _refusal(name, what),
                         extra=job_id_extra(self.id, outcome="refused"))  # fmt: skip
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

    @property
    def started_job_registry(self) -> StartedJobRegistry:
        # RQ builds a new registry at each access (twice an attempt), each checking its serializer against a
        # runtime Protocol, slow on Python 3.11; a registry holds nothing but its names and client.
        return _started_registry(self.origin, self.connection, cast(Any, type(self)), cast(Any, self.serializer))


@functools.lru_cache(maxsize=64)
def _started_registry(
    origin: str, connection: Redis, job_class: type[rq.job.Job], serializer: Any
) -> StartedJobRegistry:
    return StartedJobRegistry(origin, connection=connection, job_class=job_class, serializer=serializer)


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
        if connection is not None:
            # A client of its own that waits through Redis outages (the one given may be shared with
            # code that must fail fast); a shutdown request ends the wait.
            retry = transport.OutageRetry(lambda: f"Worker {getattr(self, 'name', '')}", self._may_stop_waiting)
            connection = transport.waiting_connection(connection, retry)
        kwargs.update(connection=connection, job_class=job_class, serializer=JSONSerializer, queue_class=rq.Queue)
        super().__init__(expand_priority_queues(queues, connection, job_class), *args, **kwargs)

    _jobs_app_current_job: str | None = None

    _jobs_app_dequeuing = False

    def _may_stop_waiting(self) -> bool:
        """Whether a command gives up waiting for Redis and raises instead.

        While waiting for a job, RQ's own loop waits better: it backs off, beats and registers
        again between tries (a blocking pop retried in place would hold until its timeout).
        Otherwise it gives up when a shutdown was asked for and no job is in hand; with a job in
        hand the wait goes on, so the job is recorded (a warm shutdown's promise), and a second
        signal, the cold shutdown, ends it anyway.
        """
        if self._jobs_app_dequeuing:
            return True
        asked = getattr(self, "_shutdown_requested_date", None) is not None
        return asked and getattr(self, "_state", None) != WorkerStatus.BUSY

    def dequeue_job_and_maintain_ttl(self, *args: Any, **kwargs: Any) -> Any:
        self._jobs_app_dequeuing = True
        try:
            return super().dequeue_job_and_maintain_ttl(*args, **kwargs)
        finally:
            self._jobs_app_dequeuing = False

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

    # The connection waits through outages; these steps are also guarded for when it stops waiting
    # (a shutdown requested during an outage): RQ would end the worker on any exception they raise.

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance, each step on its own: what one step meets never stops the worker or the others."""
        if (
            self.last_cleaned_at
            and self.scheduler
            and not (self.scheduler._process and self.scheduler._process.is_alive())
        ):
            self._guarded("restarting the scheduler", lambda: self.scheduler.acquire_locks(auto_start=True))
        self.clean_registries()
        self._guarded("cleaning groups", lambda: Group.clean_registries(connection=self.connection))

    def clean_registries(self) -> None:
        """RQ's registry cleanup per queue, after quarantining whatever planted entries no worker may load."""
        for queue in self.queues:
            if not self._guarded("taking the maintenance lock", queue.acquire_maintenance_lock):
                continue
            self.log.info("Worker %s: cleaning registries for queue: %s", self.name, queue.name)  # RQ's line
            self._guarded(f"screening {queue.name}", lambda queue=queue: screen_queue(queue))
            self._guarded(
                f"cleaning {queue.name}'s registries", lambda queue=queue: clean_registries(queue, self._exc_handlers)
            )
            self._guarded(
                f"cleaning {queue.name}'s workers", lambda queue=queue: worker_registration.clean_worker_registry(queue)
            )
            self._guarded(
                f"cleaning {queue.name}'s intermediate list",
                lambda queue=queue: queue.intermediate_queue.cleanup(self, queue),
            )
            self._guarded("releasing the maintenance lock", queue.release_maintenance_lock)
        self.last_cleaned_at = now()  # type: ignore[assignment]  # (RQ declares it None)

    def _guarded(self, step: str, call: Any) -> Any:
        try:
            return call()
        except StopRequested:  # a shutdown signal while idle: RQ's work loop handles it
            raise
        except RedisError as error:
            logger.warning("Worker %s: %s skipped, Redis cannot be reached (%s)", self.name, step, error)
        except Exception:
            logger.exception("Worker %s: %s failed; carrying on", self.name, step)
        return None

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """RQ's, with jobs_app's scheduler, which screens what it loads and waits through outages."""
        self.scheduler = Scheduler(
            self.queues,
            self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if not burst:
            self.scheduler.start()
            return
        try:
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()
        finally:
            self.scheduler.release_locks()
            self.scheduler.register_death()

    def teardown(self) -> None:
        try:
            super().teardown()
        except RedisError as error:
            logger.warning("Worker %s: not unregistered, Redis cannot be reached (%s)", self.name, error)

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


class Scheduler(RQScheduler):
    """RQ's scheduler, on a connection that waits through outages, refusing planted jobs that fall due."""

    def __init__(self, queues: Any, connection: Redis, **kwargs: Any) -> None:
        super().__init__(queues, connection, **kwargs)
        # Rebuilt from the worker's connection itself (RQ rebuilds it from its pool's settings, which
        # loses a Sentinel-managed pool); the scheduler runs in a forked process, so nothing is pickled.
        self._source_connection = connection

    @property
    def connection(self) -> Redis:
        if self._connection is None:
            retry = transport.OutageRetry(lambda: f"Scheduler {self.name}", lambda: self._stop_requested)
            self._connection = transport.waiting_connection(self._source_connection, retry)  # type: ignore[assignment]
        return self._connection  # type: ignore[return-value]  # (RQ declares `_connection` None)

    def enqueue_scheduled_jobs(self) -> None:
        # RQ loads due jobs with its own class; ours first quarantines what must not be loaded,
        # which RQ then skips as gone (and drops from the registry).
        if not self._scheduled_job_registries and self._acquired_locks:
            self.prepare_registries()
        for registry in self._scheduled_job_registries:
            screen(self.connection, registry.get_jobs_to_schedule())
        super().enqueue_scheduled_jobs()


def screen(connection: Redis, job_ids: Iterable[str]) -> set[str]:
    """Load each of `job_ids` as a worker would; the ids refused (and quarantined) on the way."""
    ids = list(job_ids)
    refused: set[str] = set()
    for start in range(0, len(ids), _SCREEN_BATCH):
        chunk = ids[start : start + _SCREEN_BATCH]
        with connection.pipeline() as pipeline:
            for job_id in chunk:
                pipeline.exists(Job.key_for(job_id))
            present = pipeline.execute()
        loaded = Job.fetch_many(chunk, connection=connection, serializer=JSONSerializer)
        refused.update(
            job_id for job_id, there, job in zip(chunk, present, loaded, strict=True) if there and job is None
        )
    return refused


def screen_queue(queue: rq.Queue) -> None:
    """Quarantine the planted or damaged jobs in every registry and list of `queue` that RQ reads
    (not its schedule: the scheduler screens what falls due), and drop their entries there."""
    connection = queue.connection
    for registry_class in (
        StartedJobRegistry,
        FailedJobRegistry,
        FinishedJobRegistry,
        CanceledJobRegistry,
        DeferredJobRegistry,
    ):
        key = registry_class(queue.name, connection=connection).key
        entries = [as_text(member) for member in cast(list, connection.zrange(key, 0, -1))]
        refused = screen(connection, {registry_class.parse_job_id(entry) for entry in entries})
        gone = [entry for entry in entries if registry_class.parse_job_id(entry) in refused]
        if gone:
            connection.zrem(key, *gone)
    intermediate = queue.intermediate_queue_key
    for job_id in screen(connection, {as_text(member) for member in connection.lrange(intermediate, 0, -1)}):
        connection.lrem(intermediate, 0, job_id)


class Worker(lean.LeanWorkerMixin, _JobsAppWorkerMixin, rq.Worker):
    """The forking worker, for handlers that need a process of their own per job: each handler's call runs in
    a work horse forked for it (`jobs_app.horse`), while the claim, the outcome and RQ's bookkeeping stay in
    the worker, on its own connections, as in a pool process. A plain RQ job (`ALLOWED_RQ_FUNCTIONS`) takes
    RQ's own path: all of it in the work horse."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._work_horse = horse.WorkHorse(self)

    def execute_job(self, job: rq.job.Job, queue: rq.Queue) -> None:
        _keep_sqlite_open()
        with runner.calling_handlers_in(self._work_horse):
            super().execute_job(job, queue)

    def get_heartbeat_ttl(self, job: rq.job.Job) -> int:
        # The worker does not beat while a work horse runs the handler: one beat covers the job's whole limit.
        return rq.SimpleWorker.get_heartbeat_ttl(self, job)

    def teardown(self) -> None:
        self._work_horse.reap()
        super().teardown()


# On SQLite, a connection the worker holds open (never used) between its work horses: see `_keep_sqlite_open`.
_sqlite_keeper: sqlite3.Connection | None = None


def _keep_sqlite_open() -> None:
    """Hold the SQLite database open in the worker, so that a work horse's new connection finds its WAL index.

    A work horse whose handler uses the database opens its own connection and exits without closing
    it. With no other connection open (the worker's own is closed between jobs when `CONN_MAX_AGE`
    is 0), each new one rebuilt the WAL index by reading the whole WAL file (hundreds of page reads a
    job). This connection runs no statement after its first read, so it holds no lock and stops no
    checkpoint; work horses inherit it and never use it.
    """
    global _sqlite_keeper
    database = connections[DEFAULT_DB_ALIAS].settings_dict
    if _sqlite_keeper is not None or not database["ENGINE"].endswith("sqlite3"):
        return
    name = str(database["NAME"])
    if not name or name == ":memory:" or "mode=memory" in name:
        return
    _sqlite_keeper = sqlite3.connect(name, check_same_thread=False)
    _sqlite_keeper.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()


class SimpleWorker(lean.LeanWorkerMixin, _JobsAppWorkerMixin, rq.SimpleWorker):
    """Runs jobs in the worker process itself; the production pool (jobs_app.pool) runs N of them.

    jobs_app's own jobs take the lean path of `jobs_app.lean` (RQ's bookkeeping in fewer round trips).
    """
