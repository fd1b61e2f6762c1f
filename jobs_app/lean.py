"""RQ's per-job work, trimmed for jobs_app's own jobs (see docs/benchmarks.md, "RQ's work per job").

RQ spends about a dozen Redis round trips on each job around the call itself: three pops to find
it behind two empty priority queues, a fetch, two pipelines to prepare it, one to drop its
expiry, one for a job heartbeat written just before the job is deleted, one to end it, and
three more for the worker's state and heartbeats. For a job that calls `transport.ENTRY_POINT`,
whose outcome the database row holds, `LeanWorkerMixin` does the same bookkeeping in four:

- `LeanQueue.dequeue_any`: one Lua script pops the first non-empty queue (highest priority
  first, as RQ) and reads the job's hash; an empty round falls back to RQ's blocking pop;
- one pipeline before the call: RQ's execution (the started registry, so a killed job is
  found), the worker's state, current job and heartbeat (its TTL covering the job's limit), the
  job's status and start, and RQ's `persist`;
- one pipeline after it: RQ's counters, the execution cleaned up, the job deleted (a success), or
  deleted and pushed again as a new job is pushed (a retry the row records: `runner.Redelivery`,
  one hash and one RPUSH or ZADD instead of RQ's retry result, full save and counters), the
  worker idle, a full heartbeat that stands
  for the ones RQ sends between jobs (at most one plain beat a second goes out on its own), and
  jobs_app's own attempt counters (`metrics`) when they live on the same Redis.

Both pipelines are plain ones, not RQ's MULTI/EXEC: Redis runs a small pipeline's commands in order
from one read of the socket, and a transaction costs the client one more reply to parse per command.

Any other job (an allow-listed plain RQ function), and any exception out of the entry point, takes
RQ's own path unchanged.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import rq
from rq.exceptions import NoSuchJobError
from rq.job import JobStatus, Retry
from rq.utils import now
from rq.worker import WorkerStatus

from . import metrics, transport

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger("jobs_app")

# Pop the first non-empty list of KEYS and read that job's hash, in one round trip.
_POP_AND_READ = """
for index, key in ipairs(KEYS) do
    local job_id = redis.call('LPOP', key)
    if job_id then
        return {index, job_id, redis.call('HGETALL', ARGV[1] .. job_id)}
    end
end
return false
"""


class LeanQueue(rq.Queue):
    """RQ's queue, whose `dequeue_any` pops and reads a job in one round trip when one is waiting."""

    _scripts: dict[int, Any] = {}

    @classmethod
    def dequeue_any(  # type: ignore[override]
        cls,
        queues: list[rq.Queue],
        timeout: int | None,
        connection: Redis,
        job_class: type[rq.job.Job] | None = None,
        serializer: Any = None,
        death_penalty_class: Any = None,
    ) -> tuple[rq.job.Job, rq.Queue] | None:
        if len(queues) < 2:  # RQ moves a single queue's job through its intermediate queue: keep that
            return super().dequeue_any(queues, timeout, connection, job_class, serializer, death_penalty_class)
        job_cls = job_class or cls.job_class
        script = cls._script(connection)
        keys = [queue.key for queue in queues]
        while True:
            found = script(keys=keys, args=[job_cls.redis_job_namespace_prefix])
            if not found:
                if timeout is None:
                    return None
                # Nothing waiting: RQ's blocking pop (BLPOP over the same queues) waits for the next one.
                return super().dequeue_any(queues, timeout, connection, job_class, serializer, death_penalty_class)
            index, job_id, fields = found
            if not fields:
                continue  # the job is gone (deleted while queued): RQ passes over it silently too
            job = job_cls(job_id.decode(), connection=connection, serializer=serializer)
            try:
                job.restore(dict(zip(fields[::2], fields[1::2], strict=True)))
            except NoSuchJobError:
                continue  # refused on loading (jobs_app's job class): as RQ's dequeue_any, pass over it
            return job, queues[index - 1]

    @classmethod
    def _script(cls, connection: Redis) -> Any:
        # redis-py sends EVALSHA, and the script again after a Redis restart forgot it.
        script = cls._scripts.get(id(connection))
        if script is None:
            script = cls._scripts[id(connection)] = connection.register_script(_POP_AND_READ)
        return script


if TYPE_CHECKING:
    _RQWorker = rq.SimpleWorker
else:
    _RQWorker = object


class LeanWorkerMixin(_RQWorker):
    """jobs_app's workers' per-job path: RQ's bookkeeping in fewer round trips (see the module). The forking
    `Worker` takes it too: only its handler's call runs in a work horse."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue_class = LeanQueue
        self._on_this_redis: dict[str | None, bool] = {}  # by queue name; None: jobs_app's control Redis

    # --- heartbeats and checks between jobs ------------------------------------------------------------------

    # RQ beats several times a job on its own (after the job, before and after the dequeue), each a round
    # trip: within this many seconds of a beat that set the worker's full TTL, plain beats are skipped.
    BEAT_AT_MOST_EVERY = 1.0
    _full_beat_at = 0.0

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if timeout is not None:
            # A job's beat sets a TTL of its own (its timeout + 60 s): the next plain beat must restore the full one.
            self._full_beat_at = 0.0
        elif pipeline is not None:
            self._full_beat_at = time.monotonic()  # the full TTL, in the caller's pipeline
        elif time.monotonic() - self._full_beat_at < self.BEAT_AT_MOST_EVERY:
            return
        else:
            self._full_beat_at = time.monotonic()
        super().heartbeat(timeout, pipeline=pipeline)

    _suspension_checked_at = 0.0

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's check for `rq suspend` (a round trip before every job), at most once a second."""
        if time.monotonic() - self._suspension_checked_at >= self.BEAT_AT_MOST_EVERY:
            super().check_for_suspension(burst)
            self._suspension_checked_at = time.monotonic()

    _idle_saved = False  # the last job's pipeline wrote `idle`: RQ's next set_state(idle) need not

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is None and self._idle_saved and state == WorkerStatus.IDLE:
            self._idle_saved = False
            self._state = state
            return
        self._idle_saved = False
        super().set_state(state, pipeline=pipeline)

    def _here(self, queue: str | None) -> bool:
        """Whether `queue`'s Redis (None: the control connection's, where jobs_app's counters live) is this
        worker's own, so its commands can go in the worker's pipelines. Asked once each."""
        here = self._on_this_redis.get(queue)
        if here is None:
            other = transport.control_connection() if queue is None else transport.connection(queue)
            here = self._on_this_redis[queue] = transport.same_server(self.connection, other)
        return here

    def _redelivery(self, retry: Retry | None) -> list[tuple[Any, ...]] | None:
        """For a retry the row records (`runner.Redelivery`) whose queue lives on this worker's Redis: the commands
        that push it as a new job is pushed (one hash, one RPUSH or ZADD), in place of RQ's retry bookkeeping."""
        dispatch = getattr(retry, "dispatch", None)
        if dispatch is None:
            return None
        return transport.push_commands([dispatch], now()) if self._here(dispatch.queue) else None

    def _set_worker_fields(self, pipeline: Any, heartbeat_ttl: int | None, **fields: Any) -> None:
        """What RQ's `set_state`, `set_current_job_id`, `set_current_job_working_time` and `heartbeat` write to
        the worker's hash, for `fields` and a heartbeat with `heartbeat_ttl` (None: the worker's full TTL), in
        one HSET and one EXPIRE on `pipeline`."""
        if "state" in fields:
            self._state = fields["state"]
        if "current_job" in fields:
            self._jobs_app_current_job = fields["current_job"]
        if "current_job_working_time" in fields:
            self.current_job_working_time = fields["current_job_working_time"]
        self.last_heartbeat = now()
        self._full_beat_at = 0.0 if heartbeat_ttl is not None else time.monotonic()  # as `heartbeat` above
        pipeline.hset(self.key, mapping={**fields, "last_heartbeat": rq.utils.utcformat(self.last_heartbeat)})
        pipeline.expire(self.key, heartbeat_ttl or self.worker_ttl + 60)

    # --- one job ---------------------------------------------------------------------------------------------

    def execute_job(self, job: rq.job.Job, queue: rq.Queue) -> None:
        try:
            lean = job.func_name == transport.ENTRY_POINT
        except Exception:  # data RQ cannot read: RQ's own path reports it, as for any job
            lean = False
        if not lean:
            return super().execute_job(job, queue)
        self._lean_prepare(job, queue)
        self._lean_perform(job, queue)

    def _lean_prepare(self, job: rq.job.Job, queue: rq.Queue) -> None:
        """RQ's prepare_execution, prepare_job_execution and the job's `persist`, in one pipeline."""
        heartbeat_ttl = self.get_heartbeat_ttl(job)
        with self.connection.pipeline(transaction=False) as pipeline:
            self.execution = rq.executions.Execution.create(job, heartbeat_ttl, pipeline=pipeline,
                                                            worker_name=self.name)  # fmt: skip
            # RQ's set_state, set_current_job_id, set_current_job_working_time and heartbeat: one HSET, one EXPIRE.
            self._set_worker_fields(
                pipeline,
                heartbeat_ttl,
                state=WorkerStatus.BUSY,
                current_job=job.id,
                current_job_working_time=0,
            )
            job.prepare_for_execution(self.name, pipeline=pipeline)
            if len(self.queues) == 1:
                pipeline.lrem(queue.intermediate_queue_key, 1, job.id)
            pipeline.persist(job.key)
            pipeline.execute()
        self.procline(f"Processing {job.func_name} from {job.origin} since {time.time()}")

    def _lean_perform(self, job: rq.job.Job, queue: rq.Queue) -> None:
        """RQ's perform_job for the entry point, which records its own outcome and never raises for a handler's."""
        counts: list[metrics.AttemptCount] = []
        try:
            job.started_at = now()
            timeout = job.timeout or self.queue_class.DEFAULT_TIMEOUT
            with self.death_penalty_class(timeout, rq.timeouts.JobTimeoutException, job_id=job.id):
                rq.job._job_stack.push(job)  # what `get_current_job()` reads (RQ's job.perform does the same)
                try:
                    with metrics.holding(counts):
                        value = job._result = job._execute()
                finally:
                    rq.job._job_stack.pop()
        except Exception:  # RQ's time limit, the database gone: RQ's own failure path, unchanged
            metrics.send(counts)
            self._lean_failed(job, queue)
            return
        job.ended_at = now()
        if isinstance(value, Retry):
            self._lean_end(job, queue, retry=value, counts=counts)
        else:
            job._status = JobStatus.FINISHED
            self._lean_end(job, queue, retry=None, counts=counts)

    def _lean_failed(self, job: rq.job.Job, queue: rq.Queue) -> None:
        job._status = JobStatus.FAILED
        self.handle_execution_ended(job, queue, job.failure_callback_timeout)
        exc_info = sys.exc_info()
        self.handle_exception(job, *exc_info)
        self.handle_job_failure(job=job, queue=queue, started_job_registry=queue.started_job_registry,
                                exc_string="".join(traceback.format_exception(*exc_info)))  # fmt: skip
        self.set_state(WorkerStatus.IDLE)

    def _lean_end(
        self, job: rq.job.Job, queue: rq.Queue, *, retry: Retry | None, counts: list[metrics.AttemptCount]
    ) -> None:
        """The outcome for RQ, the worker idle and its full heartbeat, in one pipeline.

        A success: RQ keeps nothing (the row holds the outcome), so the job's hash is deleted, as RQ
        does with `result_ttl=0`; no result, success callback, dependents or repeat (jobs_app sets
        none). A retry the row records (`runner.Redelivery`, its queue on this Redis): the hash
        deleted and the job pushed again as `transport.push` pushes a new one, due when the row says.
        Any other `Retry`: RQ's own retry (its retried result, the job back on its queue or in the
        schedule), unless RQ's count is spent, which only RQ's own path handles.
        """
        execution = self.execution
        assert execution is not None and job.started_at is not None and job.ended_at is not None
        push = self._redelivery(retry)
        if retry is not None and push is None and job.number_of_retries and job.number_of_retries >= retry.max:
            self.handle_job_retry(job=job, queue=queue, retry=retry, started_job_registry=queue.started_job_registry,
                                  execution=execution)  # fmt: skip
            self.set_state(WorkerStatus.IDLE)
            metrics.send(counts)
            return
        worked: timedelta = job.ended_at - job.started_at
        with self.connection.pipeline(transaction=False) as pipeline:
            if retry is None:
                self.increment_successful_job_count(pipeline=pipeline)
            else:
                self.increment_failed_job_count(pipeline=pipeline)
            self.increment_total_working_time(worked, pipeline)
            if retry is not None and push is None:
                job._handle_retry_result(queue=queue, pipeline=pipeline, retry=retry, worker_name=self.name,
                                         execution_id=execution.id, execution_started_at=execution.created_at,
                                         execution_ended_at=job.ended_at)  # fmt: skip
            self.cleanup_execution(job, pipeline=pipeline)  # with RQ's set_current_job_id(None)
            if retry is None or push is not None:
                pipeline.delete(job.key)
            for command in push or ():  # after the delete: the retry is a new RQ job under the same id
                pipeline.execute_command(*command)
            # RQ's set_state(idle) and a full heartbeat: one HSET, one EXPIRE.
            self._set_worker_fields(pipeline, None, state=WorkerStatus.IDLE)
            counted_here = self._here(None)
            if counted_here:
                metrics.add_to(pipeline, counts)
            # Busy until this is through, as on RQ's path: a Redis outage here is waited out with the job in hand.
            self._state = WorkerStatus.BUSY
            pipeline.execute()
            self._state = WorkerStatus.IDLE
        self._idle_saved = True
        if not counted_here:
            metrics.send(counts)
        logger.debug("Worker %s: job %s %s in %ss", self.name, job.id, "retried" if retry else "done", worked)
