"""Health problems for probes and on-call tooling: each check returns the reasons it finds, empty when healthy.

To add a reason, write a function returning a list of
strings and append it to `CHECKS`.
"""

from __future__ import annotations

from collections.abc import Callable

from redis import RedisError

from . import pauses, recurring, stats

Check = Callable[[], list[str]]


def workerless_queues() -> list[str]:
    """Queues with jobs waiting and no worker alive (`stats.queues_without_workers`), as reasons."""
    counts = stats.state_counts()
    return [
        f"Queue {queue!r} has {counts[queue]['queued']} waiting job(s) and no worker alive"
        for queue in stats.queues_without_workers(counts)
    ]


def stale_recurring() -> list[str]:
    """Recurring handlers whose last success is older than their `max_interval`."""
    return recurring.stale_reasons()


CHECKS: list[Check] = [workerless_queues, stale_recurring]


def problems() -> list[str]:
    """Every reason the job system is not healthy, from every check in `CHECKS`."""
    reasons: list[str] = []
    for check in CHECKS:
        try:
            reasons.extend(check())
        except RedisError as error:
            reasons.append(f"Redis is unreachable: {error}")
    return reasons


def paused() -> list[dict[str, str]]:
    """What is paused and since when (not a problem: an operator's choice), empty when Redis is unreachable."""
    try:
        return [pause.as_dict() for pause in pauses.paused()]
    except RedisError:
        return []
