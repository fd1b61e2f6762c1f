"""The sweeper's repair: jobs that a fault left behind, put back on their way.

Three kinds, under one Redis lock so that two sweepers do not push the same jobs twice:
waiting jobs whose push failed or whose RQ job is gone (`pushed`), scheduled jobs long
overdue that no RQ scheduler promoted (`overdue`), and running jobs whose worker died or
let go of them (`killed`), recorded through `services.end_attempt` like any failed attempt.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from redis import RedisError
from redis.exceptions import LockError
from redis.lock import Lock as RedisLock

from . import services, transport
from .conf import app_settings
from .exceptions import HandlerNotFound, WorkerDied
from .logs import job_extra
from .models import Job, JobAttempt, JobQuerySet
from .registry import get_handler
from .states import RUNNABLE, State

logger = logging.getLogger("jobs_app")

LOCK_NAME = "sweeper-repair"
_LOCK_TIMEOUT = 300
KINDS = ("pushed", "overdue", "killed")
# How far before a Redis's verified mark the repair looks again: a job's `created_at` is taken before its
# transaction commits, so a row may appear some time after that moment, and its push after it.
MARK_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True, kw_only=True)
class Scope:
    """Which jobs a repair looks at, and whether it only counts (`dry_run`)."""

    queues: Sequence[str] = ()
    handler: str | None = None
    dry_run: bool = False
    batch_size: int = 5000

    def filter(self, queryset: JobQuerySet) -> JobQuerySet:
        if self.queues:
            queryset = queryset.filter(queue__in=list(self.queues))
        if self.handler:
            queryset = queryset.filter(handler=self.handler)
        return queryset


def repair(scope: Scope | None = None, *, now: datetime | None = None) -> dict[str, int]:
    """Push lost waiting jobs again and record attempts whose worker died. Counts by kind.

    Runs under a Redis lock; a sweeper that cannot take it leaves the repair to the one that holds it.
    """
    scope = scope or Scope()
    now = now or timezone.now()
    counts = dict.fromkeys(KINDS, 0)
    lock = transport.lock(LOCK_NAME, timeout=_LOCK_TIMEOUT)
    try:
        if not scope.dry_run:
            _release_unreleased()
        if not scope.dry_run and not lock.acquire():
            logger.info("Repair skipped: another sweeper is repairing")
            return counts
    except RedisError as error:
        logger.error("Repair skipped: Redis cannot be reached (%s)", error)
        return counts
    try:
        cutoff = now - timedelta(seconds=app_settings.REPAIR_GRACE)
        counts["pushed"] = _repair_lost(scope, cutoff)
        counts["overdue"] = _repair_overdue(scope, cutoff)
        counts["killed"] = _repair_killed(scope, cutoff)
    except RedisError as error:
        logger.error("Repair stopped: Redis cannot be reached (%s); the next pass tries again", error)
    finally:
        if not scope.dry_run:
            _release(lock)
    return counts


# Repair locks this process holds but could not release (Redis did not answer), with their tokens. A Sentinel
# failover copies the lock to the new primary, where it would stop every sweeper's repair until it expires.
_unreleased: list[tuple[RedisLock, str]] = []


def _release(lock: RedisLock, token: str | None = None) -> None:
    token = token or lock.local.token  # `release()` forgets the token even when Redis did not answer
    if token is None:
        return
    lock.local.token = None
    try:
        lock.do_release(token)
    except LockError:
        logger.debug("The repair lock had already expired")
    except RedisError:
        _unreleased.append((lock, token))


def _release_unreleased() -> None:
    """Release the locks earlier passes could not, now that Redis answers again (or keep them for later)."""
    pending = _unreleased[:]
    _unreleased.clear()
    for lock, token in pending:
        _release(lock, token)


def _push(scope: Scope, pks: list) -> int:
    if not pks:
        return 0
    return len(pks) if scope.dry_run else services.repush(Job.objects.filter(pk__in=pks))


def _repair_lost(scope: Scope, cutoff: datetime) -> int:
    """Waiting jobs never pushed (`needs_push`), and queued jobs whose RQ job is gone from Redis.

    What is lost, not the backlog: in each Redis, only the queued jobs created since its verified
    mark (less `MARK_MARGIN`) are looked up, plus those RQ put in its failed-job registries. A Redis
    without the mark has lost data (or was never verified): all its queued jobs are looked up once.
    """
    pushed = 0
    never_pushed = scope.filter(Job.objects.filter(state__in=RUNNABLE, needs_push=True))
    for rows in services.batches(never_pushed, (), scope.batch_size):
        pushed += _push(scope, [pk for (pk,) in rows])
    # Only a pass over every job, that changes things, moves a mark.
    marks = not scope.queues and not scope.handler and not scope.dry_run
    for queues in transport.queues_by_connection(scope.queues or transport.configured_queues()):
        mark = transport.verified_until(queues[0], start=marks)
        queued = scope.filter(Job.objects.filter(state=State.QUEUED, needs_push=False, queue__in=queues))
        recent = queued.filter(created_at__lte=cutoff)
        if mark is not None:
            since = mark - MARK_MARGIN
            # Job ids are UUIDv7, made with `created_at`: bounding the id as well makes the walk a range
            # of the (state, id) index instead of a scan of every queued job's entry.
            recent = recent.filter(created_at__gt=since, pk__gte=first_uuid7_at(since))
        for rows in services.batches(recent, ("queue",), scope.batch_size):
            pushed += _push_missing(scope, rows)
        # Older jobs that RQ failed before their claim (a work horse killed, the database unreachable).
        failed_in_rq = transport.failed_job_ids(queues)
        for start in range(0, len(failed_in_rq), scope.batch_size):
            batch = queued.filter(pk__in=failed_in_rq[start : start + scope.batch_size])
            pushed += _push_missing(scope, list(batch.order_by("pk").values_list("pk", "queue")))
        if marks and (mark is None or cutoff > mark):
            transport.set_verified(queues[0], cutoff)
    if pushed:
        logger.warning("Repair: pushed %d waiting job(s) that were missing from Redis", pushed)
    return pushed


def first_uuid7_at(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 (RFC 9562: 48 bits of Unix milliseconds, version 7, variant 2) made at `moment`."""
    milliseconds = math.floor(moment.timestamp() * 1000)
    return uuid.UUID(int=(milliseconds << 80) | (7 << 76) | (2 << 62))


def _push_missing(scope: Scope, rows: Sequence[tuple]) -> int:
    """Of `(pk, queue)` rows, push again those whose RQ job will not run as things stand."""
    missing = transport.missing_jobs((queue, str(pk)) for pk, queue in rows)
    return _push(scope, [pk for pk, _queue in rows if str(pk) in missing])


def _repair_overdue(scope: Scope, cutoff: datetime) -> int:
    """Scheduled jobs overdue by more than the grace period that no RQ scheduler promoted.

    A retry whose backoff has passed may wait its turn on a long RQ queue while its row
    is still `scheduled`: one that RQ already has queued (or running) is left alone.
    """
    pushed = 0
    overdue = scope.filter(Job.objects.filter(state=State.SCHEDULED, needs_push=False, scheduled_for__lte=cutoff))
    for rows in services.batches(overdue, ("queue",), scope.batch_size):
        missing = transport.missing_jobs(((queue, str(pk)) for pk, queue in rows), waiting=("queued", "started"))
        pushed += _push(scope, [pk for pk, _queue in rows if str(pk) in missing])
    if pushed:
        logger.warning("Repair: pushed %d overdue scheduled job(s)", pushed)
    return pushed


def _repair_killed(scope: Scope, cutoff: datetime) -> int:
    """Running jobs whose attempt is over without a record: a `killed` attempt, then the retry policy.

    That is a job whose worker is gone (no registration, or no heartbeat within the grace
    period), or whose worker is alive but no longer on it (its work horse was killed, or it
    could not write the outcome to the database). A worker marks its current job in Redis
    before the job is claimed and clears it after the outcome is written, so a live worker
    on another job, or on none, has lost this one. Heartbeats are measured against the
    clock, not the pass's `now`: they are the workers' own.
    """
    running = scope.filter(Job.objects.filter(state=State.RUNNING, started_at__lte=cutoff))
    # The first running job in key order, not `exists()`: ordered by id, the look is a seek in the (state, id)
    # index on every planner, where SQLite, with statistics from a table of one state, scanned every queued job.
    if not running.page_after(None, (), 1):
        return 0
    # A worker is dead once it has been silent longer than its promised heartbeat interval or the
    # grace period: its registration lingers in Redis for minutes after a SIGKILL, its beats stop.
    clock = timezone.now()
    live = {
        worker.name: worker.current_job
        for worker in transport.workers(transport.configured_queues())
        if worker.beating(clock, grace=app_settings.REPAIR_GRACE)
    }
    killed = 0
    for rows in services.batches(running, ("worker_name", "started_at", "timeout", "queue"), scope.batch_size):
        lost = []
        for pk, worker_name, started_at, timeout, queue in rows:
            if worker_name in live and live[worker_name] == str(pk):
                continue
            if not worker_name:
                # No worker name to look up: only once RQ's own time limit is long past.
                limit = transport.handler_timeout(queue, timeout) + app_settings.TIMEOUT_MARGIN
                if started_at > cutoff - timedelta(seconds=limit):
                    continue
            lost.append(pk)
        if scope.dry_run:
            killed += len(lost)
            continue
        for job in Job.objects.filter(pk__in=lost, state=State.RUNNING).order_by("pk"):
            if _record_killed(job, worker_alive=job.worker_name in live):
                killed += 1
    if killed:
        logger.warning("Repair: %d running job(s) lost their worker; recorded as killed attempts", killed)
    return killed


def _record_killed(job: Job, *, worker_alive: bool = False) -> bool:
    """Record the running attempt of `job` as `killed` (its worker died or let go of it), through
    `services.end_attempt`: the retry policy applies and a retry goes back to RQ."""
    worker = job.worker_name or "(unknown)"
    if worker_alive:
        error = WorkerDied(
            f"worker {worker} lost attempt {job.attempts}: its work horse died or could not record the outcome"
        )
    else:
        error = WorkerDied(f"worker {worker} died while running attempt {job.attempts}")
    try:
        give_up_on = get_handler(job.handler).give_up_on
    except HandlerNotFound:
        give_up_on = None
    decision = services.end_attempt(job, outcome=JobAttempt.Outcome.KILLED, error=error, give_up_on=give_up_on)
    if decision is None:
        return False
    logger.warning("Killed: %s (%s); %s", job.label, error, decision.verdict, extra=job_extra(job, outcome="killed"))
    return True
