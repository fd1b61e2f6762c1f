"""Read-only figures about jobs, RQ queues and workers.

One source for the admin dashboard, the JSON API and `check_queue`, so that they
never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, Count, IntegerField, Value, When
from django.db.models.functions import TruncHour
from django.utils import timezone

from . import transport
from .models import Job, JobAttempt
from .states import Priority, State


def logical_queues() -> list[str]:
    """The queue names in settings.RQ_QUEUES."""
    return transport.configured_queues()


def logical_queue_of(rq_queue_name: str) -> str:
    """`email:high` -> `email`: the logical queue behind an RQ queue."""
    return rq_queue_name.split(":", 1)[0]


def state_counts() -> dict[str, dict[str, int]]:
    """Jobs per state for each queue (every state present, zeros included), in one query."""
    counts: dict[str, dict[str, int]] = {queue: dict.fromkeys(State.values, 0) for queue in logical_queues()}
    # COUNT(*), not COUNT(id): SQLite then counts the (queue, state) index alone instead of also reading every
    # row's id from the table (0.2 s instead of 1.1 s at 1,000,000 jobs).
    rows = Job.objects.order_by().values_list("queue", "state").annotate(count=Count("*"))
    for queue, state, count in rows:
        counts.setdefault(queue, dict.fromkeys(State.values, 0))[state] = count
    return counts


def total_state_counts(counts: dict[str, dict[str, int]] | None = None) -> dict[str, int]:
    """Jobs per state over all queues."""
    totals = dict.fromkeys(State.values, 0)
    for per_state in (counts if counts is not None else state_counts()).values():
        for state, count in per_state.items():
            totals[state] += count
    return totals


def rq_queue_lengths() -> dict[str, int]:
    """Job ids waiting in RQ for each logical queue, all priorities together (one pipeline per connection)."""
    lengths: dict[str, int] = {}
    for queue in logical_queues():
        with transport.connection(queue).pipeline(transaction=False) as pipeline:
            for priority in Priority.values:
                pipeline.llen(transport.rq_queue(queue, priority).key)
            lengths[queue] = sum(pipeline.execute())
    return lengths


def workers_by_queue() -> dict[str, list[str]]:
    """Names of the RQ workers alive (heartbeat not expired) that listen to each logical queue."""
    workers: dict[str, list[str]] = defaultdict(list)
    for worker in transport.workers(logical_queues()):
        for name in sorted({logical_queue_of(rq_name) for rq_name in worker.rq_queues}):
            workers[name].append(worker.name)
    return {queue: sorted(workers.get(queue, [])) for queue in logical_queues()}


def current_jobs() -> dict[str, str | None]:
    """The RQ workers alive (heartbeat not expired), each with the id of the job it is running (None: idle)."""
    return {worker.name: worker.current_job for worker in transport.workers(logical_queues())}


def queues_without_workers(
    counts: dict[str, dict[str, int]] | None = None, workers: dict[str, list[str]] | None = None
) -> list[str]:
    """Queues that have jobs waiting (`queued`) but no worker alive to take them."""
    counts = counts if counts is not None else state_counts()
    workers = workers if workers is not None else workers_by_queue()
    return [
        queue for queue, per_state in sorted(counts.items()) if per_state.get(State.QUEUED) and not workers.get(queue)
    ]


@dataclass(frozen=True, kw_only=True)
class HourlyAttempts:
    """Attempts that finished within one hour (`start` to `start` + 1 h)."""

    start: datetime
    succeeded: int
    failed: int


def attempts_per_hour(hours: int = 24, *, now: datetime | None = None) -> list[HourlyAttempts]:
    """Succeeded and failed attempts per hour for the last `hours` hours, oldest first, in one query.

    The last entry is the current, unfinished hour; hours without attempts are zeros.
    `failed` also counts attempts whose worker died (outcome `killed`).
    """
    now = now or timezone.now()
    current = now.astimezone(timezone.get_current_timezone()).replace(minute=0, second=0, microsecond=0)
    starts = [current - timedelta(hours=offset) for offset in range(hours - 1, -1, -1)]
    counts: dict[datetime, dict[str, int]] = {start: {"succeeded": 0, "failed": 0} for start in starts}
    rows = (
        JobAttempt.objects.filter(finished_at__gte=starts[0], finished_at__lt=current + timedelta(hours=1))
        .annotate(hour=TruncHour("finished_at"))
        .order_by()
        .values_list("hour", "outcome")
        .annotate(count=Count("pk"))
    )
    for hour, outcome, count in rows:
        bucket = counts.get(hour)
        if bucket is not None:
            bucket["succeeded" if outcome == JobAttempt.Outcome.SUCCEEDED else "failed"] += count
    return [HourlyAttempts(start=start, **counts[start]) for start in starts]


# The names each view of one queue gives the states. The API's queue stats speak as job-queue
# dashboards usually do; the overview (dashboard, `check_queue`) keeps the states' own names.
QUEUE_STAT_NAMES = {
    "waiting": State.QUEUED,
    "active": State.RUNNING,
    "completed": State.SUCCEEDED,
    "failed": State.FAILED,
    "delayed": State.SCHEDULED,
    "dead": State.DEAD,
}
OVERVIEW_NAMES = {
    "waiting": State.QUEUED,
    "scheduled": State.SCHEDULED,
    "running": State.RUNNING,
    "succeeded": State.SUCCEEDED,
    "failed": State.FAILED,
    "dead": State.DEAD,
}


def _named(per_state: dict[str, int], names: dict[str, State]) -> dict[str, int]:
    return {name: per_state.get(state, 0) for name, state in names.items()}


def queue_stats(queue: str) -> dict[str, int]:
    """`waiting`, `active`, `completed`, `failed`, `delayed` and `dead` counts of one queue, in one query."""
    return _named(
        dict(Job.objects.order_by().filter(queue=queue).values_list("state").annotate(count=Count("*"))),
        QUEUE_STAT_NAMES,
    )


def failures_by_handler(since: datetime) -> dict[str, int]:
    """Failed attempts (including killed ones, and ones retried since) per handler that finished after `since`."""
    rows = (
        JobAttempt.objects.order_by()
        .filter(finished_at__gte=since, outcome__in=JobAttempt.FAILURES)
        .values_list("job__handler")
        .annotate(count=Count("pk"))
    )
    return dict(sorted(rows))


OVERVIEW_COLUMNS = (*OVERVIEW_NAMES, "workers")


def queue_overview(
    counts: dict[str, dict[str, int]] | None = None, workers: dict[str, list[str]] | None = None
) -> dict[str, dict[str, int]]:
    """Per queue: jobs waiting (`queued`), scheduled, running, succeeded, failed, dead, and workers alive."""
    counts = counts if counts is not None else state_counts()
    workers = workers if workers is not None else workers_by_queue()
    return {
        queue: {**_named(per_state, OVERVIEW_NAMES), "workers": len(workers.get(queue, []))}
        for queue, per_state in sorted(counts.items())
    }


# Upper bounds (seconds) of the duration buckets the timings are counted in: 1 ms to an hour, each 25 %
# above the last, so a percentile read from them is within 25 % of the exact one.
TIMING_BOUNDS: tuple[float, ...] = tuple(0.001 * 1.25**step for step in range(69))
TIMING_WINDOWS = {"last_hour": timedelta(hours=1), "last_day": timedelta(days=1)}


@dataclass(frozen=True, kw_only=True)
class Timing:
    """One handler's attempts that finished within one window (the last hour, or day)."""

    runs: int
    failed: int
    p50: float | None
    p95: float | None
    per_minute: float

    @property
    def failure_rate(self) -> float:
        """Failed (or killed) attempts over all attempts, 0 to 1."""
        return self.failed / self.runs if self.runs else 0.0


def percentile(counts: list[int], fraction: float) -> float | None:
    """The `fraction` percentile (0.5: the median) of durations counted per `TIMING_BOUNDS` bucket.

    `counts` has one entry per bound plus one for longer ones; read linearly within the bucket.
    """
    total = sum(counts)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(TIMING_BOUNDS):
                return TIMING_BOUNDS[-1]
            lower = TIMING_BOUNDS[index - 1] if index else 0.0
            return lower + (TIMING_BOUNDS[index] - lower) * (rank - seen) / count
        seen += count
    return TIMING_BOUNDS[-1]


def _bucket_of_duration(low: int, high: int) -> Case | Value:
    """SQL for the index of the `TIMING_BOUNDS` bucket an attempt's duration falls in (`high`: longer than all),
    as a binary search: seven comparisons a row instead of up to seventy in one long CASE."""
    if low == high:
        return Value(low)
    middle = (low + high) // 2
    return Case(
        When(duration__lte=timedelta(seconds=TIMING_BOUNDS[middle]), then=_bucket_of_duration(low, middle)),
        default=_bucket_of_duration(middle + 1, high),
        output_field=IntegerField(),
    )


def handler_timings(*, now: datetime | None = None) -> dict[str, dict[str, Timing]]:
    """Per handler, for the last hour and the last day: runs, failures, p50 and p95 durations (seconds),
    and attempts per minute, from the attempt rows, in one query.

    The rows are counted per duration bucket in the database (a CASE over `TIMING_BOUNDS`), not read
    one by one, so the cost is one range scan of the attempt index for the day.
    """
    now = now or timezone.now()
    hour_ago = now - TIMING_WINDOWS["last_hour"]
    bucket = _bucket_of_duration(0, len(TIMING_BOUNDS))
    rows = (
        JobAttempt.objects.filter(finished_at__gte=now - TIMING_WINDOWS["last_day"], finished_at__lte=now)
        .order_by()
        .annotate(
            bucket=bucket,
            recent=Case(When(finished_at__gte=hour_ago, then=Value(1)), default=Value(0), output_field=IntegerField()),
        )
        .values_list("job__handler", "recent", "outcome", "bucket")
        .annotate(count=Count("pk"))
    )
    # handler -> window -> (bucket counts, failed)
    figures: dict[str, dict[str, tuple[list[int], list[int]]]] = {}
    for handler, recent, outcome, index, count in rows:
        windows = figures.setdefault(handler, {name: ([0] * (len(TIMING_BOUNDS) + 1), [0]) for name in TIMING_WINDOWS})
        for name in ("last_hour", "last_day") if recent else ("last_day",):
            counts, failed = windows[name]
            counts[index] += count
            if outcome != JobAttempt.Outcome.SUCCEEDED:
                failed[0] += count
    return {
        handler: {
            name: Timing(
                runs=sum(counts),
                failed=failed[0],
                p50=percentile(counts, 0.5),
                p95=percentile(counts, 0.95),
                per_minute=sum(counts) / (TIMING_WINDOWS[name].total_seconds() / 60),
            )
            for name, (counts, failed) in windows.items()
        }
        for handler, windows in sorted(figures.items())
    }
