"""The sweeper's pass: delayed auto-retries and the dead letter, after the repair and before the housekeeping.

`manage.py retry_failed` calls `sweep()` once per interval. Failed jobs are walked in
batches of constant memory (`services.batches`), and every change of state goes through
`services`, with conditions on the state a row was read in, so that several sweepers at
once never re-run a job twice. The repair lives in `repair.py`, the dead-job alert and
SQLite's statistics in `maintenance.py`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from . import groups, maintenance, repair, services
from .conf import app_settings
from .exceptions import HandlerNotFound
from .models import Job, JobQuerySet
from .policy import AutoRetry, Sweep, auto_retry_for, sweep_action
from .registry import get_handler
from .states import State

logger = logging.getLogger("jobs_app")

BATCH_SIZE = 5000
# Kept importable from here: they moved to maintenance.py.
alert_if_many_dead = maintenance.alert_if_many_dead
refresh_planner_statistics = maintenance.refresh_planner_statistics


@dataclass(frozen=True, kw_only=True)
class SweepOptions:
    """What one pass looks at. `delay` and `max_retries`, when given, win over handlers and settings."""

    delay: float | None = None
    max_retries: int | None = None
    queues: Sequence[str] = ()
    handler: str | None = None
    limit: int | None = None
    dry_run: bool = False
    repair: bool = True
    batch_size: int = BATCH_SIZE


@dataclass(kw_only=True)
class SweepResult:
    """Counts of one pass. `skipped`: failed jobs left as they were (not due yet, or taken by another sweeper).

    `repaired` is the sum of `details`, the repair's counts by kind (`pushed`, `overdue`, `killed`).
    """

    scanned: int = 0
    retried: int = 0
    dead: int = 0
    repaired: int = 0
    skipped: int = 0
    dry_run: bool = False
    details: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        verb = "would retry" if self.dry_run else "retried"
        return (
            f"{'Dry run: ' if self.dry_run else ''}scanned {self.scanned} failed job(s): {verb} {self.retried}, "
            f"{'would move' if self.dry_run else 'moved'} {self.dead} to dead, skipped {self.skipped}; "
            f"{'would repair' if self.dry_run else 'repaired'} {self.repaired}"
        )


def _policy_of(handler_name: str, options: SweepOptions, defaults: AutoRetry) -> AutoRetry | None:
    try:
        handler_policy = get_handler(handler_name).auto_retry
    except HandlerNotFound:
        handler_policy = None
    return auto_retry_for(handler_policy, defaults=defaults, delay=options.delay, max_retries=options.max_retries)


def failed_jobs(options: SweepOptions) -> JobQuerySet:
    """The jobs in the `failed` state (not `dead`: those are done with) that a pass with these options looks at,
    less those of a muted failure group."""
    return groups.without_muted(_scope(options).filter(Job.objects.filter(state=State.FAILED)))


def _as_read(rows: Sequence[tuple]) -> Q:
    """Rows still `failed` with the `auto_retries` they were read with: the condition for acting on them.

    Bounded by the batch's smallest and largest key as well (see `JobQuerySet.with_pks`): a range of the
    (state, id) index, whatever the planner's statistics say, instead of a scan of the table per batch.
    """
    by_count: dict[int, list] = defaultdict(list)
    for pk, auto_retries in rows:
        by_count[auto_retries].append(pk)
    condition = Q(pk__in=[])  # no rows: matches nothing
    for auto_retries, pks in by_count.items():
        condition |= Q(pk__in=pks, auto_retries=auto_retries)
    if not rows:
        return Q(state=State.FAILED) & condition
    pks = [pk for pk, _auto_retries in rows]
    return Q(state=State.FAILED, pk__gte=min(pks), pk__lte=max(pks)) & condition


def _rerun(rows: list[tuple]) -> int:
    if not rows:
        return 0
    # One batch in one go: a batch_size above the row count spares rerun() asking for a next batch.
    return services.rerun(Job.objects.filter(_as_read(rows)), auto_retry=True, batch_size=len(rows) + 1).retried


def sweep(
    options: SweepOptions | None = None,
    *,
    now: datetime | None = None,
    progress: Callable[[int], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SweepResult:
    """One pass: repair, re-run due failed jobs, move used-up ones to `dead`, alert.

    `now` is the time the delays and grace periods are measured against (tests move it).
    `progress(n)` is called after each batch with the failed jobs it scanned; `should_stop()`
    is asked between batches (a signal arrived: finish the batch in hand, then return).
    """
    options = options or SweepOptions()
    now = now or timezone.now()
    should_stop = should_stop or (lambda: False)
    result = SweepResult(dry_run=options.dry_run)
    defaults = app_settings.auto_retry
    policies: dict[str, AutoRetry | None] = {}
    budget = options.limit

    # Repair first: the jobs this pass re-runs are then not looked up in Redis again right after their push.
    if options.repair:
        repaired = repair.repair(_scope(options), now=now)
        result.details = repaired
        result.repaired = sum(repaired.values())

    failed = failed_jobs(options)
    fields = ("handler", "auto_retries", "failed_at", "error_type")
    for rows in services.batches(failed, fields, options.batch_size):
        to_retry: list[tuple[Any, int]] = []
        to_bury: list[tuple[Any, int]] = []
        for pk, handler, auto_retries, failed_at, error_type in rows:
            if handler not in policies:
                policies[handler] = _policy_of(handler, options, defaults)
            action = sweep_action(
                policies[handler], auto_retries=auto_retries, failed_at=failed_at, error_type=error_type, now=now
            )
            if action == Sweep.WAIT or (budget is not None and len(to_retry) + len(to_bury) >= budget):
                continue
            (to_retry if action == Sweep.RETRY else to_bury).append((pk, auto_retries))
        result.scanned += len(rows)
        if options.dry_run:
            retried, buried = len(to_retry), len(to_bury)
        else:
            retried = _rerun(to_retry)
            buried = len(services.dead_letter(Job.objects.filter(_as_read(to_bury)))) if to_bury else 0
        result.retried += retried
        result.dead += buried
        result.skipped += len(rows) - retried - buried
        if budget is not None:
            budget -= retried + buried
        if progress is not None:
            progress(len(rows))
        if should_stop() or (budget is not None and budget <= 0):
            break

    if result.dead:
        logger.warning("Dead letter: %d failed job(s) moved to dead (auto-retries used up or off)", result.dead)
    if not options.dry_run:
        maintenance.alert_if_many_dead(now=now)
        maintenance.refresh_planner_statistics()
    return result


def _scope(options: SweepOptions) -> repair.Scope:
    return repair.Scope(
        queues=options.queues, handler=options.handler, dry_run=options.dry_run, batch_size=options.batch_size
    )
