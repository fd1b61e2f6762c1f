"""Read-only figures about jobs, RQ queues and workers.

One source for the admin dashboard, the JSON API and `check_queue`, so that they
never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count
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
    rows = Job.objects.order_by().values_list("queue", "state").annotate(count=Count("pk"))
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
        dict(Job.objects.order_by().filter(queue=queue).values_list("state").annotate(count=Count("pk"))),
        QUEUE_STAT_NAMES,
    )


def failures_by_handler(since: datetime) -> dict[str, int]:
    """Failed attempts (including killed ones, and ones retried since) per handler that finished after `since`."""
    rows = (
        JobAttempt.objects.order_by()
        .filter(finished_at__gte=since, outcome__in=(JobAttempt.Outcome.FAILED, JobAttempt.Outcome.KILLED))
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
