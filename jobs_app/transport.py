"""The only module that talks to RQ and Redis on the enqueue side.

RQ carries nothing but the job id: every RQ job calls `ENTRY_POINT` with the id of
a `Job` row, under that same id. Each logical queue is three RQ queues, one per
priority (`email:high`, `email`, `email:low`), which jobs_app's worker drains in
that order.
"""

from __future__ import annotations

import calendar
import functools
import logging
import math
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.utils import timezone
from django_rq.connection_utils import filter_connection_params, get_redis_connection
from redis import ConnectionPool, Redis
from redis.backoff import ExponentialBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.lock import Lock as RedisLock
from redis.retry import Retry
from redis.sentinel import SentinelConnectionPool, SentinelManagedConnection, SentinelManagedSSLConnection
from rq import Queue, Worker
from rq.connections import get_connection_kwargs
from rq.executions import ExecutionRegistry
from rq.job import Job as RQJob
from rq.serializers import JSONSerializer
from rq.utils import utcformat

from .conf import app_settings
from .exceptions import UnknownQueue
from .states import Priority

try:
    from hiredis import pack_command as _hiredis_pack
    from redis.connection import HiredisRespSerializer
except ImportError:  # no hiredis, or a redis-py before 5
    _hiredis_pack = None  # type: ignore[assignment]
    HiredisRespSerializer = None  # type: ignore[assignment,misc]

T = TypeVar("T")
logger = logging.getLogger("jobs_app")

ENTRY_POINT = "jobs_app.runner.execute"
PIPELINE_BATCH = 1000
_DEFAULT_RQ_TIMEOUT = 180

_connections: dict[str, Redis] = {}
# By queue name: the settings of each queue are read once (every push asks), until RQ_QUEUES changes.
_queue_connections: dict[str, Redis] = {}
_queues: dict[str, Queue] = {}


@dataclass(frozen=True, slots=True)
class Dispatch:
    """What RQ needs to know of one job: where it goes, when, and how long it may take."""

    job_id: str
    handler: str
    queue: str
    priority: str = Priority.NORMAL
    timeout: float | None = None
    run_at: datetime | None = None


def queue_config(queue: str) -> dict:
    """`settings.RQ_QUEUES[queue]`; `UnknownQueue` (an `ImproperlyConfigured`) if it is not there."""
    try:
        return settings.RQ_QUEUES[queue]
    except (AttributeError, KeyError):
        configured = ", ".join(sorted(getattr(settings, "RQ_QUEUES", {}))) or "none"
        raise UnknownQueue(f"Queue {queue!r} is not in settings.RQ_QUEUES (configured: {configured})") from None


def rq_queue_name(queue: str, priority: str = Priority.NORMAL) -> str:
    """The RQ queue that holds `queue`'s jobs of one priority."""
    return queue if priority == Priority.NORMAL else f"{queue}:{priority}"


def rq_queue_names(queue: str) -> list[str]:
    """All RQ queues behind one logical queue, highest priority first."""
    return [rq_queue_name(queue, priority) for priority in Priority.values]


def connection(queue: str) -> Redis:
    """The Redis connection of a logical queue, shared by every queue with the same settings."""
    redis = _queue_connections.get(queue)
    if redis is None:
        params = filter_connection_params(queue_config(queue))
        key = repr(sorted(params.items()))
        if key not in _connections:
            _connections[key] = get_redis_connection(params)
        redis = _queue_connections[queue] = _connections[key]
    return redis


class OutageRetry(Retry):
    """A redis-py retry policy that waits through a Redis outage instead of raising.

    Every command and pipeline on a connection with this policy retries, with backoff up
    to `cap` seconds between tries, for as long as Redis refuses connections or times out,
    and then carries on where it was. `should_stop()` true (a worker asked to shut down)
    ends the wait: the error is raised as usual. It logs once when the wait begins and once
    when Redis answers again.
    """

    def __init__(
        self, label: str | Callable[[], str], should_stop: Callable[[], bool] = lambda: False, *, cap: float = 5.0
    ) -> None:
        super().__init__(ExponentialBackoff(cap=cap, base=0.25), -1, (RedisConnectionError, RedisTimeoutError))
        self.label = label
        self.should_stop = should_stop
        self.cap = cap

    def describe(self) -> str:
        return self.label() if callable(self.label) else self.label

    def __deepcopy__(self, memo: dict) -> OutageRetry:
        # redis-py deep-copies the policy into each connection; `should_stop` is shared, not copied.
        copy = OutageRetry(self.label, self.should_stop, cap=self.cap)
        copy.update_supported_errors(self._supported_errors)
        return copy

    def call_with_retry(self, do: Callable[[], T], fail: Callable, *args, **kwargs) -> T:
        started: float | None = None

        def failed(error: Exception, *more) -> None:
            nonlocal started
            fail(error, *more)
            if self.should_stop():
                raise error
            if started is None:
                started = time.monotonic()
                logger.warning("%s: Redis cannot be reached (%s); waiting for it", self.describe(), error)

        result = super().call_with_retry(do, failed, *args, **kwargs)
        if started is not None:
            logger.warning("%s: Redis is back after %.1f s; carrying on", self.describe(), time.monotonic() - started)
        return result


class _AskTheSentinelsAgain:
    """A Sentinel-managed connection that asks the sentinels where the primary is on every reconnect.

    redis-py's retry re-sends a failed command on the same connection, which reconnects to the
    address it had without asking the sentinels: a command in flight as the primary died was
    re-sent to the dead primary for ever, and the worker or work horse waiting on it hung.
    """

    _sock: Any

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._sock:
            self.connect()  # type: ignore[attr-defined]
        super().send_packed_command(command, check_health)  # type: ignore[misc]


class WaitingSentinelConnection(_AskTheSentinelsAgain, SentinelManagedConnection):
    pass


class WaitingSentinelSSLConnection(_AskTheSentinelsAgain, SentinelManagedSSLConnection):
    pass


def waiting_connection(connection: Redis, retry: Retry) -> Redis:
    """A new client of `connection`'s Redis (a Sentinel-managed one included) whose commands use `retry`.

    A client of its own, so the caller's connection (shared with enqueue-side code that must fail
    fast and fall back) keeps its policy.
    """
    pool = connection.connection_pool
    kwargs = {**get_connection_kwargs(connection), "retry": retry}
    if not {"driver_info", "lib_name", "lib_version"} & kwargs.keys():
        # Resolved once: redis-py otherwise reads its package's metadata from disk for every new connection,
        # which a forking worker's work horse makes for each job.
        kwargs["driver_info"] = _driver_info()
    clone: ConnectionPool
    if isinstance(pool, SentinelConnectionPool):
        del kwargs["connection_pool"]  # the new pool refers its connections to itself
        clone = SentinelConnectionPool(
            pool.service_name,
            pool.sentinel_manager,
            is_master=pool.is_master,
            check_connection=pool.check_connection,
            connection_class=_asking_the_sentinels_again(pool.connection_class),
            **kwargs,
        )
    else:  # a plain pool; one RQ rebuilt from a Sentinel pool's settings keeps its `connection_pool` reference
        connection_class = _asking_the_sentinels_again(pool.connection_class)
        clone = ConnectionPool(connection_class=connection_class, max_connections=pool.max_connections, **kwargs)
    return type(connection)(connection_pool=clone)


@functools.cache
def _driver_info() -> DriverInfo:
    return DriverInfo()


def _asking_the_sentinels_again(connection_class: type) -> type:
    if issubclass(connection_class, _AskTheSentinelsAgain):
        return connection_class
    if issubclass(connection_class, SentinelManagedSSLConnection):
        return WaitingSentinelSSLConnection
    if issubclass(connection_class, SentinelManagedConnection):
        return WaitingSentinelConnection
    return connection_class  # a class of the project's own: left as it is


def handler_timeout(queue: str, timeout: float | None) -> int:
    """A handler's time limit in whole seconds: its own, or its queue's DEFAULT_TIMEOUT."""
    if timeout is None:
        timeout = queue_config(queue).get("DEFAULT_TIMEOUT") or _DEFAULT_RQ_TIMEOUT
    return max(1, math.ceil(timeout))


def rq_queue(queue: str, priority: str = Priority.NORMAL) -> Queue:
    name = rq_queue_name(queue, priority)
    if name not in _queues:
        _queues[name] = Queue(name, connection=connection(queue), serializer=JSONSerializer)
    return _queues[name]


def push(dispatches: Iterable[Dispatch]) -> None:
    """Put jobs on their RQ queues (or RQ's schedule), one pipeline per connection and batch.

    Raises `redis.RedisError` when Redis cannot be reached; the caller decides what that means.
    """
    now = timezone.now()
    for redis, chunk in _chunks_per_connection(dispatches, attrgetter("queue")):
        _push_batch(redis, chunk, now)


def _chunks_per_connection(items: Iterable[T], queue_of: Callable[[T], str]) -> Iterator[tuple[Redis, list[T]]]:
    """`items` grouped by the Redis connection of their queue, in chunks of `PIPELINE_BATCH`: a pipeline each."""
    groups: dict[int, tuple[Redis, list[T]]] = {}
    for item in items:
        redis = connection(queue_of(item))
        groups.setdefault(id(redis), (redis, []))[1].append(item)
    for redis, group in groups.values():
        for start in range(0, len(group), PIPELINE_BATCH):
            yield redis, group[start : start + PIPELINE_BATCH]


@dataclass(frozen=True, slots=True)
class _Route:
    """Where the jobs of one queue, priority and time limit go, and the RQ hash fields they share."""

    queue_key: str
    scheduled_key: str
    fields: tuple[Any, ...]  # field, value, field, value...


# By (queue, priority, timeout): worked out once, until RQ_QUEUES or JOBS_APP changes.
_routes: dict[tuple[str, str, float | None], _Route] = {}


def _route(queue: str, priority: str, timeout: float | None) -> _Route:
    route = _routes.get((queue, priority, timeout))
    if route is None:
        rq = rq_queue(queue, priority)
        route = _routes[queue, priority, timeout] = _Route(
            queue_key=rq.key,
            scheduled_key=rq.scheduled_job_registry.key,
            fields=(
                "origin", rq.name,
                "timeout", handler_timeout(queue, timeout) + app_settings.TIMEOUT_MARGIN,
                "result_ttl", 0,  # the row keeps the result; RQ need not
                "failure_ttl", app_settings.RQ_FAILURE_TTL,
            ),
        )  # fmt: skip
    return route


def _push_batch(redis: Redis, dispatches: Sequence[Dispatch], now: datetime) -> None:
    """One pipeline: each job's RQ hash and its place on its RQ queue (or RQ's schedule).

    Written directly: the keys RQ's `Queue.enqueue_job` / `schedule_job` would write for
    `create_job(ENTRY_POINT, args=[job_id], ...)`, and of its hash the fields that are not
    empty (RQ writes eight empty ones a worker fills in when it takes the job), without
    building an RQ `Job` per job (about 150 µs each): one HSET and one RPUSH (or ZADD) a job,
    one SADD of the queues a batch.
    """
    commands = push_commands(dispatches, now)
    if commands:
        _pipeline(redis, commands)


def push_commands(dispatches: Sequence[Dispatch], now: datetime) -> list[tuple[Any, ...]]:
    """The Redis commands that put `dispatches` on their RQ queues (or RQ's schedule), for one pipeline."""
    created = utcformat(now)
    queue_keys: set[str] = set()
    commands: list[tuple[Any, ...]] = []
    for dispatch in dispatches:
        job_id = dispatch.job_id
        route = _route(dispatch.queue, dispatch.priority, dispatch.timeout)
        run_at = dispatch.run_at
        scheduled = run_at is not None and run_at > now
        status = ("status", "scheduled") if scheduled else ("status", "queued", "enqueued_at", created)
        commands.append(("HSET", RQJob.redis_job_namespace_prefix + job_id, "created_at", created,
                         "data", _rq_job_data(job_id), "description", f"{dispatch.handler}:{job_id}",
                         *route.fields, *status))  # fmt: skip
        if scheduled:
            commands.append(("ZADD", route.scheduled_key, calendar.timegm(run_at.utctimetuple()), job_id))  # type: ignore[union-attr]
        else:
            commands.append(("RPUSH", route.queue_key, job_id))
        queue_keys.add(route.queue_key)
    if queue_keys:
        commands.append(("SADD", Queue.redis_queues_keys, *queue_keys))
    return commands


def _pipeline(redis: Redis, commands: Sequence[tuple[Any, ...]]) -> None:
    """Send `commands` in one write and read their replies: what a plain (non-MULTI) redis-py pipeline does, on
    the same pooled connection with the same retry policy, without the `Pipeline` object's own work per command
    (its command stack, response callbacks, observability hooks: about 30 µs of a one-job push's 80).

    Redis runs the commands in order. A connection error is retried whole by the connection's retry policy (a
    re-sent HSET, RPUSH or SADD is harmless: `services.claim` runs a job once at a time); a command Redis refuses
    raises its `ResponseError` once every reply has been read, so the connection goes back to the pool in step.
    """
    pool = redis.connection_pool
    try:
        conn = pool.get_connection()
    except TypeError:  # redis-py before 5.3 wants a command name (later ones warn when given one)
        conn = pool.get_connection("PIPELINE")
    try:
        conn.retry.call_with_retry(lambda: _exchange(conn, commands), lambda error, *more: conn.disconnect())
    except ResponseError:
        raise
    except BaseException:
        conn.disconnect()  # replies may be left unread: never hand the socket back half-way
        raise
    finally:
        pool.release(conn)


def _exchange(conn: Any, commands: Sequence[tuple[Any, ...]]) -> None:
    if _hiredis_pack is not None and isinstance(getattr(conn, "_command_packer", None), HiredisRespSerializer):
        # What that packer does, without its per-argument checks for arguments our commands never have (a
        # command name with spaces, bytearray, memoryview): about 10 µs of a one-job push.
        conn.send_packed_command([b"".join([_hiredis_pack(command) for command in commands])])
    else:
        conn.send_packed_command(conn.pack_commands(commands))
    refused: ResponseError | None = None
    for _command in commands:
        try:
            conn.read_response()
        except ResponseError as error:
            refused = refused or error
    if refused is not None:
        raise refused


def _rq_job_data(job_id: str) -> bytes:
    """RQ's `data` field for a call of `ENTRY_POINT(job_id)`: (function, instance, args, kwargs) as JSON, zlib'd.

    Stored, not deflated (level 0), with a 512-byte window: the same zlib format, which RQ's `zlib.decompress`
    reads like any other. zlib's defaults allocate about 256 KiB and clear part of it for every call, then search
    80 bytes for repeats to save 9 of them: 25 to 90 µs a job, now about 2.
    """
    compressor = zlib.compressobj(0, zlib.DEFLATED, 9, 1)
    return compressor.compress(JSONSerializer.dumps([ENTRY_POINT, None, [job_id], {}])) + compressor.flush()


def withdraw(dispatches: Iterable[Dispatch]) -> None:
    """Take jobs off RQ: out of their RQ queue and RQ's scheduled registry, their RQ job deleted.

    One pipeline per connection and batch. A job id that is not there is no error.
    Raises `redis.RedisError` when Redis cannot be reached.
    """
    for redis, chunk in _chunks_per_connection(dispatches, attrgetter("queue")):
        with redis.pipeline() as pipeline:
            for dispatch in chunk:
                queue = rq_queue(dispatch.queue, dispatch.priority)
                pipeline.lrem(queue.key, 0, dispatch.job_id)
                pipeline.zrem(queue.scheduled_job_registry.key, dispatch.job_id)
                pipeline.delete(queue.job_class.key_for(dispatch.job_id))
            pipeline.execute()


# RQ job statuses under which a worker or RQ's scheduler will still run the job.
WAITING_STATUSES = frozenset({"queued", "scheduled", "started", "deferred"})


def missing_jobs(dispatches: Iterable[tuple[str, str]], *, waiting: Iterable[str] = WAITING_STATUSES) -> set[str]:
    """Of `(queue, job_id)` pairs, the job ids that RQ will not run as things stand.

    That is an RQ job gone from Redis, or one whose status is not in `waiting` (say
    `failed`: its work horse died, or the database was down, before the row was claimed).
    One pipeline of HGET per connection and batch.
    """
    runnable = {status.encode() for status in waiting}
    missing: set[str] = set()
    for redis, chunk in _chunks_per_connection(dispatches, itemgetter(0)):
        with redis.pipeline(transaction=False) as pipeline:
            for _queue, job_id in chunk:
                pipeline.hmget(RQJob.key_for(job_id), ["status", "origin"])
            found = pipeline.execute()
        popped: dict[str, list[str]] = {}
        for (_queue, job_id), (status, origin) in zip(chunk, found, strict=True):
            if _as_bytes(status) not in runnable:
                missing.add(job_id)
            elif _as_bytes(status) == b"queued" and origin:
                popped.setdefault(_text(origin), []).append(job_id)
        missing.update(_popped_jobs(redis, popped))
    return missing


# A queue at most this long is read whole (one LRANGE) to tell which of its "queued" jobs are really on it.
SHORT_QUEUE = 10_000


def _popped_jobs(redis: Redis, queued: dict[str, list[str]]) -> set[str]:
    """Of job ids whose RQ hash says "queued", by their RQ queue (`origin`), those that nothing holds.

    Taken off their RQ queue, but not on RQ's intermediate list nor in its scheduled registry,
    without a live RQ execution (which a worker registers before it forks, and keeps while it runs
    the job), and still "queued" once those are read: a worker popped the id and never started it
    (it died just then, or a failover lost its writes, or the reply to its pop) and no one will run
    it. One pipeline per RQ queue of at most `SHORT_QUEUE` ids; a longer queue is left for a pass
    when it is shorter (a job pushed again would wait behind that queue anyway). A worker between
    its pop and its execution's registration may be taken for lost: the second delivery is a no-op
    (see `claim`).
    """
    lost: set[str] = set()
    for name, job_ids in queued.items():
        queue = Queue(name, connection=redis, serializer=JSONSerializer)
        if redis.llen(queue.key) > SHORT_QUEUE:
            continue
        with redis.pipeline(transaction=False) as pipeline:
            pipeline.lrange(queue.key, 0, -1)
            pipeline.lrange(queue.intermediate_queue_key, 0, -1)
            now = time.time()
            for job_id in job_ids:
                # An execution's score is when it expires unless its worker beats again.
                pipeline.zcount(ExecutionRegistry.key_template.format(job_id), now, "+inf")
                pipeline.zscore(queue.scheduled_job_registry.key, job_id)
                pipeline.hget(RQJob.key_for(job_id), "status")
            listed, intermediate, *held = pipeline.execute()
        on_lists = {_text(job_id) for job_id in (*listed, *intermediate)}
        for index, job_id in enumerate(job_ids):
            executions, scheduled, status = held[3 * index : 3 * index + 3]
            if job_id not in on_lists and not executions and scheduled is None and _as_bytes(status) == b"queued":
                lost.add(job_id)
    return lost


def failed_job_ids(queues: Iterable[str]) -> list[str]:
    """The ids in RQ's failed-job registries of `queues` (each priority's RQ queue): RQ jobs that ended
    without RQ running them to the end (their work horse died, or the claim could not reach the database)."""
    ids: list[str] = []
    for redis, chunk in _chunks_per_connection(queues, str):
        with redis.pipeline(transaction=False) as pipeline:
            for queue in chunk:
                for priority in Priority.values:
                    pipeline.zrange(rq_queue(queue, priority).failed_job_registry.key, 0, -1)
            for found in pipeline.execute():
                ids.extend(job_id.decode() if isinstance(job_id, bytes) else job_id for job_id in found)
    return ids


# jobs_app's mark, in each Redis that holds queues, of how far the repair has verified that every queued job
# is in that Redis (an ISO time: jobs created up to then). No expiry: a Redis that comes back without it
# (restarted empty, flushed, failed over to a replica without it) has lost data, and everything is checked.
VERIFIED_MARK = "jobs_app:repair:verified"
_UNVERIFIED = "pending"


def queues_by_connection(queues: Iterable[str]) -> list[list[str]]:
    """`queues` grouped by the Redis that holds them."""
    groups: dict[int, list[str]] = {}
    for queue in queues:
        groups.setdefault(id(connection(queue)), []).append(queue)
    return list(groups.values())


def verified_until(queue: str, *, start: bool = True) -> datetime | None:
    """The repair's mark in `queue`'s Redis; None when it is missing (that Redis lost data, or was never
    verified), was set by another server process, or a full check has not finished. With `start`, such a
    mark is set to "pending" so that `set_verified` after the full check can tell whether that Redis lost
    data again meanwhile.

    The mark names the server process (its `run_id`) that it was set on: after a failover to a replica,
    or a restart from disk, the mark came along with the data while the last writes before it may not
    have, so every queued job is looked up once.
    """
    redis = connection(queue)
    run_id = _run_id(redis)
    with redis.pipeline() as pipeline:
        if start:
            pipeline.set(VERIFIED_MARK, _UNVERIFIED, nx=True)
        pipeline.get(VERIFIED_MARK)
        value = pipeline.execute()[-1]
    value = value.decode() if isinstance(value, bytes) else value
    if not value or value == _UNVERIFIED:
        return None
    server, _, until = value.partition(" ")
    if server != run_id or not until:
        if start:
            redis.set(VERIFIED_MARK, _UNVERIFIED)
        return None
    return datetime.fromisoformat(until)


def set_verified(queue: str, until: datetime, *, server: str | None = None) -> bool:
    """Move the mark in `queue`'s Redis to `until`, only if the mark is still there (SET XX): a Redis that
    lost it during the check has lost data since, and keeps it missing. With `server` (`server_id` read
    before the check began), only if that Redis is still the same server process: a failover during the
    check may have lost writes the check saw on the old primary. True when set."""
    redis = connection(queue)
    run_id = _run_id(redis)
    if server is not None and run_id != server:
        return False
    return bool(redis.set(VERIFIED_MARK, f"{run_id} {until.isoformat()}", xx=True))


def server_id(queue: str) -> str:
    """The id of the Redis server process that holds `queue` (its `run_id`): another one after a restart
    or a failover."""
    return _run_id(connection(queue))


def _run_id(redis: Redis) -> str:
    """The Redis server process's id: a new one after a restart, and another server's after a failover."""
    return str(redis.info("server").get("run_id", ""))


def _as_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


# Seconds RQ adds to a worker's key expiry beyond the next heartbeat it promises.
_RQ_HEARTBEAT_SLACK = 60


@dataclass(frozen=True, kw_only=True)
class WorkerBeat:
    """One RQ worker registered in Redis: what it listens to, the job it is on, and its heartbeat.

    `beat_interval` is the longest the worker said it would go before its next heartbeat (RQ sets
    the worker key's expiry to that plus 60 s on every beat): about 30 s for a forking worker on a
    job, the job's whole time limit for a worker that runs jobs in its own process.
    """

    name: str
    rq_queues: tuple[str, ...]
    current_job: str | None
    last_heartbeat: datetime | None
    beat_interval: float = 0.0

    def beating(self, now: datetime, *, grace: float) -> bool:
        """Heard from within its promised interval, or within `grace` seconds if that is longer."""
        if self.last_heartbeat is None:
            return False
        return (now - self.last_heartbeat).total_seconds() <= max(grace, self.beat_interval)


def workers(queues: Iterable[str]) -> list[WorkerBeat]:
    """The RQ workers registered (their key not expired) on every Redis behind `queues`, each Redis asked once."""
    seen: set[int] = set()
    found: list[WorkerBeat] = []
    for queue in queues:
        redis = connection(queue)
        if id(redis) in seen:
            continue
        seen.add(id(redis))
        registered = Worker.all(connection=redis)
        with redis.pipeline(transaction=False) as pipeline:
            for worker in registered:
                pipeline.ttl(worker.key)
            ttls = pipeline.execute()
        now = timezone.now()
        for worker, ttl in zip(registered, ttls, strict=True):
            interval = 0.0
            if worker.last_heartbeat is not None and ttl is not None and ttl >= 0:
                set_at_beat = ttl + (now - worker.last_heartbeat).total_seconds()
                interval = max(0.0, set_at_beat - _RQ_HEARTBEAT_SLACK)
            found.append(
                WorkerBeat(
                    name=worker.name,
                    rq_queues=tuple(worker.queue_names()),
                    current_job=worker.get_current_job_id(),
                    last_heartbeat=worker.last_heartbeat,
                    beat_interval=interval,
                )
            )
    return found


def configured_queues() -> list[str]:
    """The logical queue names in `settings.RQ_QUEUES`."""
    return list(getattr(settings, "RQ_QUEUES", {}))


def control_queue() -> str:
    """The queue whose Redis holds jobs_app's own keys: `default`, or the first one configured."""
    queues = getattr(settings, "RQ_QUEUES", {})
    return "default" if "default" in queues else next(iter(queues))


def control_connection() -> Redis:
    """The connection for jobs_app's own keys (locks, alert flags, breakers): the `control_queue()`'s."""
    return connection(control_queue())


def lock(name: str, *, timeout: float) -> RedisLock:
    """A non-blocking Redis lock `jobs_app:lock:<name>` that expires after `timeout` seconds."""
    return control_connection().lock(f"jobs_app:lock:{name}", timeout=timeout, blocking=False)


def set_once(name: str, *, ttl: int) -> bool:
    """SET `jobs_app:<name>` NX EX `ttl`: True for the first caller within `ttl` seconds."""
    return bool(control_connection().set(f"jobs_app:{name}", "1", nx=True, ex=ttl))


def increment_hash(
    key: str,
    counts: Iterable[tuple[str, int]],
    amounts: Iterable[tuple[str, float]] = (),
    *,
    via: Redis | None = None,
) -> None:
    """HINCRBY each of `counts` and HINCRBYFLOAT each of `amounts` (field, value pairs) in the hash `key`:
    one round trip.

    On the control connection (or `via`, a client of the same Redis): counters every worker and web
    process adds to and reads.
    """
    with (via or control_connection()).pipeline(transaction=False) as pipeline:
        for field, count in counts:
            pipeline.hincrby(key, field, count)
        for field, amount in amounts:
            pipeline.hincrbyfloat(key, field, amount)
        pipeline.execute()


def same_server(first: Redis, second: Redis) -> bool:
    """Whether two clients talk to the same Redis database (the same Sentinel service, or host, port or
    socket, and db). False when unsure: the caller then makes a round trip it might have saved."""

    def where(redis: Redis) -> tuple:
        pool = redis.connection_pool
        kwargs = pool.connection_kwargs
        place = (kwargs.get("host"), kwargs.get("port"), kwargs.get("path"))
        return getattr(pool, "service_name", None), *place, kwargs.get("db") or 0

    return where(first) == where(second)


def read_hash(key: str) -> dict[str, str]:
    """The hash `key` on the control connection, as text."""
    return {_text(field): _text(value) for field, value in control_connection().hgetall(key).items()}


def write_hash_field(key: str, field: str, value: str, *, only_if_absent: bool = False) -> bool:
    """HSET (or HSETNX) one field of the hash `key`; True when it was written."""
    redis = control_connection()
    if only_if_absent:
        return bool(redis.hsetnx(key, field, value))
    redis.hset(key, field, value)
    return True


def delete_hash_field(key: str, field: str) -> bool:
    """HDEL one field of the hash `key`; True when it was there."""
    return bool(control_connection().hdel(key, field))


def delete_key(key: str) -> None:
    control_connection().delete(key)


def read_value(key: str) -> str | None:
    value = control_connection().get(key)
    return None if value is None else _text(value)


def write_value(key: str, value: str, *, ttl: int) -> None:
    control_connection().set(key, value, ex=ttl)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def unset(name: str) -> None:
    """Delete `jobs_app:<name>` (a flag `set_once` set), so that the next caller is first again."""
    control_connection().delete(f"jobs_app:{name}")


def reset(**kwargs) -> None:
    """Forget cached connections, queues and routes (RQ_QUEUES changed)."""
    _connections.clear()
    _queue_connections.clear()
    _queues.clear()
    _routes.clear()


def _on_setting_changed(*, setting: str, **kwargs) -> None:
    if setting == "RQ_QUEUES":
        reset()
    elif setting == "JOBS_APP":  # TIMEOUT_MARGIN and RQ_FAILURE_TTL are in the routes
        _routes.clear()


setting_changed.connect(_on_setting_changed)
