"""The sweeper's pass: delayed auto-retries, the dead letter, repair, and the dead-job alert.

`manage.py retry_failed` calls `sweep()` once per interval. Everything here works in
batches of constant memory (a primary-key cursor and `values_list`), and every change
of state goes through `services`, with conditions on the state a row was read in, so
that several sweepers at once never re-run a job twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.mail import mail_admins
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from redis import RedisError

from . import services, stats, transport
from .conf import DEFAULTS, app_settings
from .exceptions import HandlerNotFound, WorkerDied
from .models import Job, JobAttempt, JobQuerySet
from .policy import AutoRetry, Sweep, sweep_action
from .registry import get_handler
from .runner import retry_decision
from .states import State

logger = logging.getLogger("jobs_app")

BATCH_SIZE = 5000
ALERT_WINDOW = timedelta(hours=1)
STATISTICS_INTERVAL = timedelta(hours=1)
_REPAIR_LOCK_TIMEOUT = 300


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
    """Counts of one pass. `skipped`: failed jobs left as they were (not due yet, or taken by another sweeper)."""

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


def default_auto_retry() -> AutoRetry:
    """`JOBS_APP["AUTO_RETRY"]`, missing keys taken from the defaults."""
    return AutoRetry(**{**DEFAULTS["AUTO_RETRY"], **app_settings.AUTO_RETRY})


def auto_retry_for(handler_name: str, options: SweepOptions, defaults: AutoRetry) -> AutoRetry | None:
    """The policy for one handler's jobs: the command line, then the handler, then the settings. None: off."""
    try:
        policy = get_handler(handler_name).auto_retry
    except HandlerNotFound:
        policy = None
    if policy is False:
        return None
    policy = policy or defaults
    if options.delay is not None:
        policy = AutoRetry(delay=options.delay, max_retries=policy.max_retries)
    if options.max_retries is not None:
        policy = AutoRetry(delay=policy.delay, max_retries=options.max_retries, delay_for=policy.delay_for)
    return policy


def _filtered(queryset: JobQuerySet, options: SweepOptions) -> JobQuerySet:
    if options.queues:
        queryset = queryset.filter(queue__in=list(options.queues))
    if options.handler:
        queryset = queryset.filter(handler=options.handler)
    return queryset


def failed_jobs(options: SweepOptions) -> JobQuerySet:
    """The `failed` jobs a pass with these options looks at."""
    return _filtered(Job.objects.filter(state=State.FAILED), options)


def _batches(queryset: JobQuerySet, fields: Sequence[str], batch_size: int) -> Iterator[list[tuple]]:
    """Rows as tuples (`pk` first), a batch at a time, by primary-key cursor: constant memory."""
    last_pk = None
    while rows := queryset.page_after(last_pk, fields, batch_size):
        yield rows
        last_pk = rows[-1][0]


def _as_read(rows: Sequence[tuple]) -> Q:
    """Rows still `failed` with the `auto_retries` they were read with: the condition for acting on them."""
    by_count: dict[int, list] = defaultdict(list)
    for pk, auto_retries in rows:
        by_count[auto_retries].append(pk)
    condition = Q(pk__in=[])  # no rows: matches nothing
    for auto_retries, pks in by_count.items():
        condition |= Q(pk__in=pks, auto_retries=auto_retries)
    return Q(state=State.FAILED) & condition


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
    defaults = default_auto_retry()
    policies: dict[str, AutoRetry | None] = {}
    budget = options.limit

    # Repair first: the jobs this pass re-runs are then not looked up in Redis again right after their push.
    if options.repair:
        repaired = repair(options, now=now)
        result.details = repaired
        result.repaired = sum(repaired.values())

    failed = failed_jobs(options)
    fields = ("handler", "auto_retries", "failed_at", "error_type")
    for rows in _batches(failed, fields, options.batch_size):
        to_retry: list[tuple[Any, int]] = []
        to_bury: list[tuple[Any, int]] = []
        for pk, handler, auto_retries, failed_at, error_type in rows:
            if handler not in policies:
                policies[handler] = auto_retry_for(handler, options, defaults)
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
        alert_if_many_dead(now=now)
        refresh_planner_statistics()
    return result


def repair(options: SweepOptions | None = None, *, now: datetime | None = None) -> dict[str, int]:
    """Push lost waiting jobs again and record attempts whose worker died. Counts by kind.

    Runs under a Redis lock, so that two sweepers do not push the same jobs twice; a
    sweeper that cannot take it leaves the repair to the one that holds it.
    """
    options = options or SweepOptions()
    now = now or timezone.now()
    counts = {"pushed": 0, "overdue": 0, "killed": 0}
    lock = transport.lock("sweeper-repair", timeout=_REPAIR_LOCK_TIMEOUT)
    try:
        if not options.dry_run and not lock.acquire():
            logger.info("Repair skipped: another sweeper is repairing")
            return counts
    except RedisError as error:
        logger.error("Repair skipped: Redis cannot be reached (%s)", error)
        return counts
    try:
        cutoff = now - timedelta(seconds=app_settings.REPAIR_GRACE)
        counts["pushed"] = _repair_lost(options, cutoff)
        counts["overdue"] = _repair_overdue(options, cutoff)
        counts["killed"] = _repair_killed(options, cutoff)
    except RedisError as error:
        logger.error("Repair stopped: Redis cannot be reached (%s); the next pass tries again", error)
    finally:
        if not options.dry_run:
            try:
                lock.release()
            except Exception:  # expired or Redis gone: it expires by itself
                logger.debug("The repair lock had already expired")
    return counts


def _push(options: SweepOptions, pks: list) -> int:
    if not pks:
        return 0
    return len(pks) if options.dry_run else services.repush(Job.objects.filter(pk__in=pks))


def _repair_lost(options: SweepOptions, cutoff: datetime) -> int:
    """Waiting jobs never pushed (`needs_push`), and queued jobs whose RQ job is gone from Redis."""
    pushed = 0
    never_pushed = _filtered(Job.objects.filter(state__in=(State.QUEUED, State.SCHEDULED), needs_push=True), options)
    for rows in _batches(never_pushed, (), options.batch_size):
        pushed += _push(options, [pk for (pk,) in rows])
    queued = _filtered(Job.objects.filter(state=State.QUEUED, needs_push=False, created_at__lte=cutoff), options)
    for rows in _batches(queued, ("queue",), options.batch_size):
        missing = transport.missing_jobs((queue, str(pk)) for pk, queue in rows)
        pushed += _push(options, [pk for pk, _queue in rows if str(pk) in missing])
    if pushed:
        logger.warning("Repair: pushed %d waiting job(s) that were missing from Redis", pushed)
    return pushed


def _repair_overdue(options: SweepOptions, cutoff: datetime) -> int:
    """Scheduled jobs overdue by more than the grace period that no RQ scheduler promoted.

    A retry whose backoff has passed may wait its turn on a long RQ queue while its row
    is still `scheduled`: one that RQ already has queued (or running) is left alone.
    """
    pushed = 0
    overdue = _filtered(Job.objects.filter(state=State.SCHEDULED, needs_push=False, scheduled_for__lte=cutoff), options)
    for rows in _batches(overdue, ("queue",), options.batch_size):
        missing = transport.missing_jobs(((queue, str(pk)) for pk, queue in rows), waiting=("queued", "started"))
        pushed += _push(options, [pk for pk, _queue in rows if str(pk) in missing])
    if pushed:
        logger.warning("Repair: pushed %d overdue scheduled job(s)", pushed)
    return pushed


def _repair_killed(options: SweepOptions, cutoff: datetime) -> int:
    """Running jobs whose attempt is over without a record: a `killed` attempt, then the retry policy.

    That is a job whose worker is gone (heartbeat expired), or whose worker is alive but
    no longer on it (its work horse was killed, or it could not write the outcome to the
    database). A worker marks its current job in Redis before the job is claimed and
    clears it after the outcome is written, so a live worker on another job, or on
    none, has lost this one.
    """
    running = _filtered(Job.objects.filter(state=State.RUNNING, started_at__lte=cutoff), options)
    if not running.exists():
        return 0
    current = stats.current_jobs()
    killed = 0
    for rows in _batches(running, ("worker_name", "started_at", "timeout", "queue"), options.batch_size):
        for pk, worker_name, started_at, timeout, queue in rows:
            if worker_name in current and current[worker_name] == str(pk):
                continue
            if not worker_name:
                # No worker name to look up: only once RQ's own time limit is long past.
                limit = transport.handler_timeout(queue, timeout) + app_settings.TIMEOUT_MARGIN
                if started_at > cutoff - timedelta(seconds=limit):
                    continue
            if options.dry_run:
                killed += 1
                continue
            job = Job.objects.filter(pk=pk, state=State.RUNNING).first()
            if job is not None and record_killed(job, worker_alive=worker_name in current):
                killed += 1
    if killed:
        logger.warning("Repair: %d running job(s) lost their worker; recorded as killed attempts", killed)
    return killed


def record_killed(job: Job, *, worker_alive: bool = False) -> bool:
    """Record the running attempt of `job` as `killed` (its worker died) and apply its retry policy."""
    worker = job.worker_name or "(unknown)"
    if worker_alive:
        error = WorkerDied(
            f"worker {worker} lost attempt {job.attempts}: its work horse died or could not record the outcome"
        )
    else:
        error = WorkerDied(f"worker {worker} died while running attempt {job.attempts}")
    try:
        handler = get_handler(job.handler)
    except HandlerNotFound:
        handler = None
    decision = retry_decision(job, handler, error)
    recorded = services.record_failure(
        job,
        started_at=job.started_at or timezone.now(),
        error=error,
        traceback="",
        decision=decision,
        outcome=JobAttempt.Outcome.KILLED,
    )
    if recorded:
        logger.warning("Killed: %s (%s); %s", job.label, error, decision.verdict)
        if job.state == State.SCHEDULED:
            services.push_on_commit([services.dispatch_of(job)])
    return recorded


def refresh_planner_statistics() -> bool:
    """On SQLite, ANALYZE the jobs table, at most once an hour across sweepers (a Redis key set with NX EX).

    PostgreSQL's autovacuum keeps its planner's statistics; SQLite has none until someone
    runs ANALYZE, and without them it sorts every failed job for the admin's failed list
    instead of walking the failed-list index. It takes about 0.6 s at 200,000 jobs.
    """
    if connection.vendor != "sqlite":
        return False
    try:
        if not transport.set_once("sqlite-analyze", ttl=int(STATISTICS_INTERVAL.total_seconds())):
            return False
    except RedisError:
        return False
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{Job._meta.db_table}"')
    return True


def alert_if_many_dead(*, now: datetime | None = None) -> bool:
    """Log an error and mail the admins when more jobs went dead in the last hour than the threshold.

    At most once an hour, across all sweepers (a Redis key set with NX EX 3600).
    """
    threshold = app_settings.ALERT_DEAD_THRESHOLD
    if threshold is None:
        return False
    now = now or timezone.now()
    dead = Job.objects.filter(state=State.DEAD, finished_at__gte=now - ALERT_WINDOW).count()
    if dead <= threshold:
        return False
    try:
        if not transport.set_once("alert:dead", ttl=int(ALERT_WINDOW.total_seconds())):
            return False
    except RedisError as error:
        logger.error("Could not reach Redis for the dead-job alert flag (%s); alerting anyway", error)
    message = f"{dead} jobs went dead in the last hour (threshold {threshold})."
    logger.error("Alert: %s", message)
    try:
        mail_admins("jobs_app: many dead jobs", message + "\nSee the admin's Failed jobs list.")
    except Exception as error:  # a mail server that is down must not stop the sweeper
        logger.error("Could not mail the admins about the dead jobs (%s)", error)
    return True
