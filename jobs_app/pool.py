"""The production worker pool: N long-lived SimpleWorker processes, no fork per job.

Built on RQ's own `rq.worker_pool.WorkerPool` (what django-rq's `rqworker-pool` runs),
with what jobs_app adds for production (`manage.py jobs_worker`, see docs/workers.md):

- each process is jobs_app's `SimpleWorker` (JSON only, priority queues, the allow-list),
  opens its own database connection after the fork and keeps it across jobs
  (`CONN_MAX_AGE` and `CONN_HEALTH_CHECKS`, checked by the runner before each job);
- a hard time limit: each process publishes its current job and that job's deadline (RQ's
  job timeout: the handler's limit plus `TIMEOUT_MARGIN`) in a small shared-memory slot;
  the pool SIGKILLs a process stuck past it, records the attempt `killed` (retried by
  policy) and starts a new process. A process that dies any other way (SIGKILL, the OOM
  killer) is handled the same;
- recycling: a process exits after `max_jobs` jobs or once its RSS passes `max_memory_mb`,
  and the pool replaces it (also in burst mode);
- SIGTERM or SIGINT to the pool: every process finishes the job in hand and exits. The
  processes ignore SIGINT themselves, so a Ctrl-C sent to the whole terminal group is
  one warm stop, not two (which RQ would take for a cold one).
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import sys
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import rq
from django.db import close_old_connections, connections
from redis import ConnectionPool, Redis, RedisError
from rq.exceptions import NoSuchJobError
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.worker_pool import WorkerData
from rq.worker_pool import WorkerPool as RQWorkerPool

from . import services, transport, worker
from .conf import app_settings
from .exceptions import HandlerNotFound, WorkerDied
from .models import Job as JobRow
from .models import JobAttempt
from .registry import get_handler
from .states import State

logger = logging.getLogger("jobs_app")

_FORK = get_context("fork")
# A process that exits with this code asked to be replaced (max jobs, memory): the pool starts
# another one even in burst mode, where RQ's pool replaces nobody.
RECYCLE_EXIT_CODE = 3
_JOB_ID_SIZE = 128


@dataclass(frozen=True)
class Slot:
    """Shared memory between the pool and one process: the job it runs and when that must end.

    The process writes it (`begin`, `end`); the pool only reads it. `deadline` is on the
    monotonic clock, which every process of the machine shares; 0 means no job or no limit.
    """

    job_id: Any  # ctypes char array
    deadline: Any  # ctypes double

    @classmethod
    def new(cls) -> Slot:
        return cls(job_id=_FORK.RawArray("c", _JOB_ID_SIZE), deadline=_FORK.RawValue("d", 0.0))

    def begin(self, job_id: str, timeout: float | None) -> None:
        self.job_id.value = job_id.encode()[:_JOB_ID_SIZE]
        self.deadline.value = time.monotonic() + timeout if timeout and timeout > 0 else 0.0

    def end(self) -> None:
        self.deadline.value = 0.0
        self.job_id.value = b""

    def current(self) -> str | None:
        return self.job_id.value.decode() or None

    def overdue(self, now: float) -> bool:
        deadline = self.deadline.value
        return 0 < deadline < now


class PoolWorker(worker.SimpleWorker):
    """jobs_app's SimpleWorker as one process of the pool: publishes its job, recycles itself."""

    def __init__(
        self,
        *args: Any,
        slot: Slot | None = None,
        max_jobs: int | None = None,
        max_memory_mb: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.slot = slot or Slot.new()
        self.max_jobs = max_jobs
        self.max_memory_mb = max_memory_mb
        self.jobs_done = 0
        self.recycled = False

    def _install_signal_handlers(self) -> None:
        # SIGTERM (from the pool) is RQ's warm stop; a second one is its cold stop. SIGINT is the
        # terminal's Ctrl-C, which the pool relays as SIGTERM.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self.request_stop)

    _cold_stopped = False

    def request_force_stop(self, signum: int, frame: Any) -> None:
        # RQ's cold stop interrupts the job in hand (and records it failed in RQ only): leave it in the
        # slot, so that the pool records the attempt `killed`. RQ ignores a repeat within a second.
        self._cold_stopped = True
        super().request_force_stop(signum, frame)
        self._cold_stopped = False

    def request_stop(self, signum: int, frame: Any) -> None:
        super().request_stop(signum, frame)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # RQ's request_stop re-arms it for a cold stop

    def execute_job(self, job: rq.job.Job, queue: rq.Queue) -> None:
        timeout = job.timeout or queue.DEFAULT_TIMEOUT
        self.slot.begin(job.id, timeout if timeout != -1 else None)
        # Cleared only when the job is over: a process that leaves it otherwise (a cold stop, an error of
        # RQ's) leaves its job in the slot, and the pool records the attempt if it is still running.
        super().execute_job(job, queue)
        if not self._cold_stopped:
            self.slot.end()
        self.jobs_done += 1
        reason = self._recycle_reason()
        if reason:
            logger.info("Worker %s: recycled after %d job(s): %s", self.name, self.jobs_done, reason)
            self.recycled = True
            self._stop_requested = True

    def _recycle_reason(self) -> str:
        if self.max_jobs and self.jobs_done >= self.max_jobs:
            return f"--max-jobs {self.max_jobs} reached"
        if self.max_memory_mb:
            rss = rss_mb()
            if rss > self.max_memory_mb:
                return f"RSS {rss:.0f} MB above --max-memory {self.max_memory_mb:g} MB"
        return ""


def rss_mb() -> float:
    """This process's resident memory in MB (its peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def run_pool_worker(
    name: str,
    queue_names: list[str],
    connection_class: type[Redis],
    connection_pool_class: type,
    connection_pool_kwargs: dict,
    *,
    slot: Slot,
    burst: bool,
    max_jobs: int | None,
    max_memory_mb: float | None,
    logging_level: str,
) -> None:
    """The body of one pool process (forked): a PoolWorker until it stops or recycles itself."""
    # The parent closed its connections before the fork; drop anything inherited regardless,
    # so this process opens its own and keeps it across jobs.
    connections.close_all()
    connection = connection_class(
        connection_pool=ConnectionPool(connection_class=connection_pool_class, **connection_pool_kwargs)
    )
    pool_worker = PoolWorker(
        queue_names,
        name=name,
        connection=connection,
        slot=slot,
        max_jobs=max_jobs,
        max_memory_mb=max_memory_mb,
    )
    try:
        # The pool runs RQ's scheduler itself: one per pool, not one per process.
        pool_worker.work(burst=burst, with_scheduler=False, logging_level=logging_level)
    finally:
        close_old_connections()
    sys.exit(RECYCLE_EXIT_CODE if pool_worker.recycled else 0)


class WorkerPool(RQWorkerPool):
    """RQ's WorkerPool running jobs_app's `PoolWorker`s, with a hard time limit and recycling."""

    def __init__(
        self,
        queues: list[str],
        connection: Redis,
        num_workers: int = 1,
        *,
        max_jobs: int | None = None,
        max_memory_mb: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            queues,
            connection=connection,
            num_workers=num_workers,
            worker_class=PoolWorker,
            serializer=JSONSerializer,
            job_class=worker.Job,
            **kwargs,
        )
        self.log = logger
        self.max_jobs = max_jobs
        self.max_memory_mb = max_memory_mb
        self.slots: dict[str, Slot] = {}
        self._over_limit: set[str] = set()  # processes killed for their hard time limit, not yet reaped
        self.killed = 0
        self.replaced = 0
        self._logging_level = "INFO"

    # --- starting processes -------------------------------------------------------------------------------

    def start(self, burst: bool = False, logging_level: str = "INFO") -> None:
        self._logging_level = logging_level
        logger.info(
            "Pool %s: %d worker process(es) on %s%s%s",
            self.name,
            self.num_workers,
            ", ".join(self._queue_names),
            f", recycled after {self.max_jobs} job(s)" if self.max_jobs else "",
            f" or {self.max_memory_mb:g} MB" if self.max_memory_mb else "",
        )
        self._start_scheduler(burst)
        try:
            super().start(burst=burst, logging_level=logging_level)
        finally:
            self._stop_scheduler()

    # --- RQ's scheduler, in the pool's own process ----------------------------------------------------------

    _scheduler: RQScheduler | None = None
    _scheduler_checked = 0.0
    SCHEDULER_CHECK_INTERVAL = 10

    def _start_scheduler(self, burst: bool) -> None:
        queues = worker.expand_priority_queues(self._queue_names, self.connection, worker.Job)
        scheduler = worker.Scheduler(  # screens what falls due, waits through Redis outages
            queues, connection=self.connection, serializer=JSONSerializer, logging_level=self._logging_level
        )
        connections.close_all()  # the scheduler's process is forked from this one
        scheduler.acquire_locks()
        if burst:  # what RQ's burst worker does: what is due now, once
            if scheduler.acquired_locks:
                try:
                    scheduler.enqueue_scheduled_jobs()
                finally:
                    scheduler.release_locks()
            return
        self._scheduler = scheduler
        if scheduler.acquired_locks:
            scheduler.start()
        self._scheduler_checked = time.monotonic()

    def _check_scheduler(self) -> None:
        """Take over scheduling when another pool's scheduler died (RQ's worker does it in its maintenance)."""
        scheduler = self._scheduler
        if scheduler is None or time.monotonic() - self._scheduler_checked < self.SCHEDULER_CHECK_INTERVAL:
            return
        self._scheduler_checked = time.monotonic()
        if not scheduler._process or not scheduler._process.is_alive():
            try:
                connections.close_all()
                scheduler.acquire_locks(auto_start=True)
            except RedisError as error:
                logger.warning("Pool %s: scheduler check skipped, Redis cannot be reached (%s)", self.name, error)

    def _stop_scheduler(self) -> None:
        process = self._scheduler._process if self._scheduler is not None else None
        if process is not None and process.pid:
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            process.join(10)

    def start_worker(
        self, count: int | None = None, burst: bool = True, _sleep: float = 0, logging_level: str = "INFO"
    ) -> None:
        name = uuid.uuid4().hex
        slot = Slot.new()
        process = _FORK.Process(
            target=run_pool_worker,
            args=(name, self._queue_names, self._connection_class, self._pool_class, self._pool_kwargs),
            kwargs={
                "slot": slot,
                "burst": burst,
                "max_jobs": self.max_jobs,
                "max_memory_mb": self.max_memory_mb,
                "logging_level": logging_level,
            },
            name=f"jobs_app worker {name}",
        )
        # A forked child must not share the parent's database sockets (PostgreSQL would see one
        # session written from two processes).
        connections.close_all()
        process.start()
        self.slots[name] = slot
        assert process.pid is not None  # started
        self.worker_dict[name] = WorkerData(name=name, pid=process.pid, process=process)
        logger.debug("Pool %s: started worker %s (pid %d)", self.name, name, process.pid)

    def stop_worker(self, worker_data: WorkerData, sig: int = signal.SIGTERM) -> None:
        # SIGTERM, not RQ's SIGINT: the processes ignore SIGINT (see PoolWorker).
        with suppress(ProcessLookupError):
            os.kill(worker_data.pid, sig)

    # --- watching them ------------------------------------------------------------------------------------

    def all_workers_have_stopped(self) -> bool:
        self.enforce_time_limits()  # while stopping too: a stuck job must not hold the stop forever
        return super().all_workers_have_stopped()

    def check_workers(self, respawn: bool = True) -> None:
        self._check_scheduler()
        self.enforce_time_limits()
        self.reap_workers()
        if self.status != self.Status.STOPPED:
            missing = self.num_workers - len(self.worker_dict)
            if not respawn:  # burst: replace only the processes recycled or killed, not those done
                missing = min(missing, self._owed)
            for _ in range(max(0, missing)):
                self.start_worker(burst=self._burst, logging_level=self._logging_level)
                self.replaced += 1
            self._owed = 0

    _owed = 0

    def enforce_time_limits(self) -> None:
        """SIGKILL every process whose job has run past its hard time limit."""
        now = time.monotonic()
        for name, data in list(self.worker_dict.items()):
            slot = self.slots.get(name)
            if slot is not None and slot.overdue(now):
                logger.error(
                    "Hard time limit: worker %s (pid %d) still runs job %s past its limit; killing it",
                    name,
                    data.pid,
                    slot.current(),
                )
                with suppress(ProcessLookupError):
                    os.kill(data.pid, signal.SIGKILL)
                data.process.join(5)
                self.killed += 1
                self._over_limit.add(name)

    def handle_dead_worker(self, worker_data: WorkerData) -> None:
        super().handle_dead_worker(worker_data)
        slot = self.slots.pop(worker_data.name, None)
        job_id = slot.current() if slot is not None else None
        exitcode = worker_data.process.exitcode
        if exitcode == RECYCLE_EXIT_CODE:
            self._owed += 1
        elif exitcode != 0:
            logger.warning("Pool %s: worker %s (pid %d) died (exit code %s)", self.name, worker_data.name,
                           worker_data.pid, exitcode)  # fmt: skip
            self._owed += 1
        if exitcode in (0, RECYCLE_EXIT_CODE) and job_id is None:
            return  # a clean exit: RQ unregistered the worker itself
        try:
            self._forget_worker(worker_data.name, job_id)
        except RedisError as error:
            logger.warning("Pool %s: could not clean up worker %s in Redis (%s)", self.name, worker_data.name, error)
        if job_id is not None:
            record_lost_attempt(job_id, worker_data.name, hard_limit=worker_data.name in self._over_limit)
        self._over_limit.discard(worker_data.name)

    def _forget_worker(self, name: str, job_id: str | None) -> None:
        """RQ's view of a dead process: its registration gone, its job out of the started registry.

        A jobs_app job's RQ entry is deleted: the row holds the attempt, and a retry pushes a
        fresh one. Any other (allow-listed) job goes to RQ's failed registry, as RQ does for
        a work horse that died.
        """
        queues = worker.expand_priority_queues(self._queue_names, self.connection, worker.Job)
        rq_job = None
        if job_id is not None:
            with suppress(NoSuchJobError):
                rq_job = worker.Job.fetch(job_id, connection=self.connection, serializer=JSONSerializer)
        with self.connection.pipeline() as pipeline:
            key = PoolWorker.redis_worker_namespace_prefix + name
            pipeline.srem(PoolWorker.redis_workers_keys, key)
            for queue in queues:
                pipeline.srem(rq.worker_registration.WORKERS_BY_QUEUE_KEY % queue.name, key)
            pipeline.delete(key)
            if rq_job is not None:
                started = StartedJobRegistry(rq_job.origin, connection=self.connection, job_class=worker.Job)
                started.remove_executions(rq_job, pipeline=pipeline)
                if rq_job.func_name == transport.ENTRY_POINT:
                    pipeline.delete(rq_job.key)
                else:
                    rq_job.set_status(rq.job.JobStatus.FAILED, pipeline=pipeline)
                    failed = FailedJobRegistry(
                        rq_job.origin, connection=self.connection, job_class=worker.Job, serializer=JSONSerializer
                    )
                    failed.add(rq_job, ttl=app_settings.RQ_FAILURE_TTL, exc_string="Killed: its pool process died",
                               pipeline=pipeline)  # fmt: skip
            pipeline.execute()


def record_lost_attempt(job_id: str, worker_name: str, *, hard_limit: bool = False) -> bool:
    """Record the attempt of `job_id` that the dead process `worker_name` was running as `killed`,
    through `services.end_attempt`: the retry policy decides what comes next (a retry goes back to RQ).

    The one place the pool records an attempt. False when there was nothing to record (no such
    running attempt of that process: already recorded, or a plain RQ job without a row).
    """
    try:
        uuid.UUID(job_id)
    except ValueError:  # an allow-listed plain RQ job: no row
        return False
    try:
        job = JobRow.objects.filter(pk=job_id, state=State.RUNNING, worker_name=worker_name).first()
        if job is None:
            return False
        if hard_limit:
            error = WorkerDied(f"worker {worker_name} was killed: attempt {job.attempts} ran past its hard time limit")
        else:
            error = WorkerDied(f"worker {worker_name} died while running attempt {job.attempts}")
        try:
            give_up_on: tuple[type[BaseException], ...] | None = get_handler(job.handler).give_up_on
        except HandlerNotFound:
            give_up_on = None  # nothing can run it any more
        decision = services.end_attempt(job, outcome=JobAttempt.Outcome.KILLED, error=error, give_up_on=give_up_on)
        if decision is not None:
            logger.warning("Killed: %s (%s); %s", job.label, error, decision.verdict)
        return decision is not None
    except Exception:
        logger.exception("Could not record the killed attempt of job %s; the sweeper's repair will", job_id)
        return False
    finally:
        connections.close_all()  # the next fork must not inherit it
