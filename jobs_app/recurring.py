"""Recurring handlers: their slots, one job per occurrence, last and next run, and staleness.

A recurring handler (`@job_handler(..., schedule="0 0 * * *")` or `every=timedelta(minutes=5)`)
has slots: the times its cron expression names (UTC), or multiples of its period counted from
the Unix epoch. Each slot becomes at most one ordinary job, whose idempotency key names the
slot (`cron:<handler>:<slot>`), however many schedulers fire it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Max, Min, Q
from django.utils import timezone

from . import transport
from .logs import job_extra
from .models import Job
from .registry import Handler, all_handlers, get_handler
from .schedule import Schedule
from .states import State

logger = logging.getLogger("jobs_app")

KEY_PREFIX = "cron:"
# A slot claimed in Redis stays claimed this long (the row, once committed, then answers instead).
_CLAIM_TTL = 24 * 3600

__all__ = ["Schedule", "catch_up", "describe", "fire", "next_slot", "period", "previous_slot", "statuses"]


def recurring_handlers() -> list[Handler]:
    """Every registered handler with `schedule=` or `every=`, by name."""
    return [handler for _name, handler in sorted(all_handlers().items()) if handler.recurring]


def period(handler: Handler) -> float:
    """Seconds between runs: `every=`, or the longest gap between two runs of its cron expression."""
    return _schedule(handler).period()


def previous_slot(handler: Handler, now: datetime) -> datetime:
    """The latest slot at or before `now`: the occurrence that is due."""
    return _schedule(handler).previous_slot(now)


def next_slot(handler: Handler, now: datetime) -> datetime:
    """The first slot after `now`."""
    return _schedule(handler).next_slot(now)


def _schedule(handler: Handler) -> Schedule:
    if handler.recurrence is None:
        raise ValueError(f"{handler.name} is not a recurring handler (give it schedule= or every=)")
    return handler.recurrence


def occurrence_key(handler: Handler, slot: datetime) -> str:
    """The idempotency key of one occurrence, for example `cron:cars.maintenance_check:2026-01-03T00:00:00+00:00`."""
    return f"{KEY_PREFIX}{handler.name}:{slot.astimezone(UTC).isoformat()}"


def describe(handler: Handler) -> str:
    """The schedule in words, for the admin: `cron 0 0 * * *` or `every 5 minutes`."""
    return _schedule(handler).describe()


def fire(name: str, *, now: datetime | None = None) -> Job | None:
    """Enqueue the occurrence of handler `name` that is due at `now`, unless it was enqueued already.

    Returns the new job, or None when that slot already has one (another scheduler, or an
    earlier pass, fired it). The job goes through the handler's normal enqueue: its queue,
    priority, attempts and retry policy.
    """
    handler = get_handler(name)
    if not handler.recurring:
        raise ValueError(f"{name} is not a recurring handler (give it schedule= or every=)")
    slot = previous_slot(handler, now or timezone.now())
    key = occurrence_key(handler, slot)
    # The row is the durable answer; the Redis claim closes the gap between two schedulers that
    # both look before either has inserted (and a first job that finished before the second looks).
    if Job.objects.filter(idempotency_key=key).exists() or not transport.set_once(key, ttl=_CLAIM_TTL):
        logger.debug("Recurring: %s at %s was already enqueued", name, slot.isoformat())
        return None
    try:
        job = handler.using(idempotency_key=key).enqueue()
    except BaseException:
        transport.unset(key)
        raise
    logger.info("Recurring: enqueued %s for %s", job.label, slot.isoformat(), extra=job_extra(job, outcome="enqueued"))
    return job


def catch_up(now: datetime | None = None) -> list[Job]:
    """Fire, once, the due occurrence of every recurring handler that has run before but not in its latest slot.

    What a scheduler runs when it starts (and now and then after): slots missed while no
    scheduler ran fire once, not once per missed slot. A handler that never ran is left
    for its first slot, so deploying a nightly job does not run it in the afternoon.
    """
    now = now or timezone.now()
    handlers = recurring_handlers()
    seen = set(Job.objects.filter(handler__in=[handler.name for handler in handlers]).values_list("handler", flat=True))
    fired = [fire(handler.name, now=now) for handler in handlers if handler.name in seen]
    return [job for job in fired if job is not None]


@dataclass(frozen=True, kw_only=True)
class RecurringStatus:
    """What the dashboard, `check_queue` and the health check show of one recurring handler."""

    handler: str
    queue: str
    schedule: str
    last_run: datetime | None
    last_outcome: str | None
    last_success: datetime | None
    next_run: datetime
    max_interval: float
    stale: bool

    @property
    def reason(self) -> str:
        since = self.last_success.isoformat() if self.last_success else "never"
        return (
            f"Recurring job {self.handler!r} has not succeeded within {self.max_interval:g} s (last success: {since})"
        )


def statuses(now: datetime | None = None) -> list[RecurringStatus]:
    """Each recurring handler's schedule, last run and outcome, next run and health.

    Stale: its last success (or, never having succeeded, its first job) is older than its
    `max_interval`. A handler with no job at all yet is not stale: it waits for its first slot.
    """
    now = now or timezone.now()
    handlers = recurring_handlers()
    if not handlers:
        return []
    figures = {
        row["handler"]: row
        for row in Job.objects.filter(handler__in=[handler.name for handler in handlers])
        .values("handler")
        .annotate(
            first=Min("created_at"),
            last_success=Max("finished_at", filter=Q(state=State.SUCCEEDED)),
        )
        .order_by()
    }
    result = []
    for handler in handlers:
        if handler.recurrence is None:
            continue
        max_interval = handler.recurrence.max_interval
        row = figures.get(handler.name, {})
        latest = (
            Job.objects.filter(handler=handler.name).order_by("-created_at").values("state", "started_at", "created_at")
        ).first()
        reference = row.get("last_success") or row.get("first")
        result.append(
            RecurringStatus(
                handler=handler.name,
                queue=handler.queue,
                schedule=describe(handler),
                last_run=(latest["started_at"] or latest["created_at"]) if latest else None,
                last_outcome=latest["state"] if latest else None,
                last_success=row.get("last_success"),
                next_run=next_slot(handler, now),
                max_interval=max_interval,
                stale=reference is not None and (now - reference).total_seconds() > max_interval,
            )
        )
    return result


def stale_reasons(now: datetime | None = None) -> list[str]:
    """A health check: one reason per recurring handler that has stopped succeeding."""
    return [status.reason for status in statuses(now) if status.stale]
