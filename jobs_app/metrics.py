"""True counters of attempts, shared by every worker: kept in Redis, never recomputed from rows.

Each recorded attempt adds, in one pipelined round trip, to one Redis hash
(`jobs_app:metrics:counters`): its handler's count for its outcome, its duration's histogram
bucket, and the handler's duration sum. Every worker process on every machine adds
to the same hash, so the figures are summed over all workers and survive worker restarts and
the retention purge (which deletes rows, not counters). `GET /api/jobs/metrics/prometheus`
reads the hash in one HGETALL. A Redis that loses its data (flushed, restarted without
persistence) starts the counters again from zero, which Prometheus reads as a counter reset.

A worker running a job holds the job's counts (`holding`) and adds them to the pipeline that ends
the job in RQ (`add_to`), so counting costs no round trip of its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from redis import RedisError

from . import transport

logger = logging.getLogger("jobs_app")

COUNTERS_KEY = "jobs_app:metrics:counters"
# Upper bounds (seconds) of the attempt-duration histogram's buckets; +Inf is added on reading.
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_SEP = "\t"  # between the parts of a field name: handler names never hold a tab


def bucket_of(seconds: float) -> str:
    """The histogram bucket (its upper bound as text, or "+Inf") that `seconds` falls in."""
    for bound in BUCKETS:
        if seconds <= bound:
            return repr(float(bound))
    return "+Inf"


@dataclass(frozen=True)
class AttemptCount:
    """What one finished attempt adds to the counters hash: HINCRBY `counts`, HINCRBYFLOAT `amounts`."""

    counts: dict[str, int]
    amounts: dict[str, float]


# Set while a worker runs a job (`holding`): the attempts recorded meanwhile, sent with the job's end.
_held: ContextVar[list[AttemptCount] | None] = ContextVar("jobs_app_held_counts", default=None)


def record_attempt(handler: str, outcome: str, seconds: float) -> None:
    """Count one finished attempt of `handler` (`succeeded`, `failed`, `killed`) that took `seconds`.

    Redis being unreachable loses this one count (logged), never the attempt itself.
    """
    seconds = max(0.0, float(seconds))
    count = AttemptCount(
        counts={
            _SEP.join(("attempts", handler, outcome)): 1,
            _SEP.join(("bucket", handler, bucket_of(seconds))): 1,
        },
        amounts={_SEP.join(("sum", handler)): seconds},
    )
    held = _held.get()
    if held is not None:
        held.append(count)
    else:
        send([count])


@contextlib.contextmanager
def holding(held: list[AttemptCount]) -> Iterator[list[AttemptCount]]:
    """Hold the counts of the attempts recorded inside the block in `held`, for the caller to `add_to`
    its own pipeline (on the counters' Redis) or to `send`."""
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)


def add_to(pipeline: Any, held: list[AttemptCount]) -> None:
    """Queue `held` counts in `pipeline`, a pipeline of the control connection's Redis."""
    for count in held:
        for name, value in count.counts.items():
            pipeline.hincrby(COUNTERS_KEY, name, value)
        for name, amount in count.amounts.items():
            pipeline.hincrbyfloat(COUNTERS_KEY, name, amount)


def send(held: list[AttemptCount]) -> None:
    """Add `held` counts to the counters hash now, in one round trip (logged and lost if Redis is down)."""
    if not held:
        return
    try:
        transport.increment_hash(
            COUNTERS_KEY,
            [(name, value) for count in held for name, value in count.counts.items()],
            [(name, amount) for count in held for name, amount in count.amounts.items()],
        )
    except RedisError as error:
        logger.warning("%d attempt(s) not counted in the metrics: Redis cannot be reached (%s)", len(held), error)


@dataclass(frozen=True, kw_only=True)
class Histogram:
    """One handler's attempt durations: cumulative (upper bound, count) pairs ending with +Inf, sum, count."""

    buckets: tuple[tuple[str, int], ...]
    sum: float
    count: int


@dataclass(frozen=True, kw_only=True)
class Counters:
    """Everything counted so far: attempts by (handler, outcome), and each handler's duration histogram."""

    attempts: dict[tuple[str, str], int] = field(default_factory=dict)
    durations: dict[str, Histogram] = field(default_factory=dict)


def read_counters() -> Counters:
    """The counters as they stand, in one round trip. Raises `redis.RedisError` when Redis is unreachable."""
    attempts: dict[tuple[str, str], int] = {}
    buckets: dict[str, dict[str, int]] = {}
    sums: dict[str, float] = {}
    for name, value in transport.read_hash(COUNTERS_KEY).items():
        kind, _, rest = name.partition(_SEP)
        if kind == "attempts":
            handler, _, outcome = rest.rpartition(_SEP)
            attempts[(handler, outcome)] = int(value)
        elif kind == "bucket":
            handler, _, bound = rest.rpartition(_SEP)
            buckets.setdefault(handler, {})[bound] = int(value)
        elif kind == "sum":
            sums[rest] = float(value)
    durations = {}
    for handler in sorted(set(buckets)):
        per_bucket = buckets.get(handler, {})
        running, cumulative = 0, []
        for bound in (*(repr(float(bound)) for bound in BUCKETS), "+Inf"):
            running += per_bucket.get(bound, 0)
            cumulative.append((bound, running))
        durations[handler] = Histogram(buckets=tuple(cumulative), sum=sums.get(handler, 0.0), count=running)
    return Counters(attempts=attempts, durations=durations)


def reset_counters() -> None:
    """Forget every counter (tests, or an operator starting afresh: Prometheus sees a reset)."""
    transport.delete_key(COUNTERS_KEY)
