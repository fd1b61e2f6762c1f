"""What a worker executes for one attempt of one job.

RQ calls `execute(job_id)`; everything else comes from the `Job` row and the
handler registered under its name.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.db import close_old_connections, connections
from django.utils import timezone
from redis import RedisError
from rq import get_current_job
from rq.job import Retry
from rq.timeouts import TimerDeathPenalty, UnixSignalDeathPenalty

from . import pauses, services, transport
from .breaker import Breaker
from .conf import app_settings
from .context import JobContext
from .exceptions import HandlerNotFound, JobTimeout
from .failures import ErrorReport, formatted_traceback
from .horse import HandlerFailed, WorkHorse
from .logs import job_extra, job_id_extra
from .models import Job, JobAttempt
from .payload import encode_result
from .policy import Verdict, to_seconds
from .registry import Handler, get_handler
from .states import RUNNABLE, State

logger = logging.getLogger("jobs_app")

# RQ checks `retry.max` against its own count of retries; the database decides, so RQ never stops us.
_UNLIMITED = sys.maxsize
# Claims tried in one delivery of a due job before it is handed back to RQ.
_CLAIM_ROUNDS = 3
# Django's health check of a reused connection (CONN_HEALTH_CHECKS: a `SELECT 1` round trip on PostgreSQL) is
# made before a job when the connection has been idle this long (seconds). Between jobs in quick succession it
# is skipped, as Django skips it for every query of a request after the first; a connection that saw an error
# is checked before the next job all the same (`close_old_connections`).
HEALTH_CHECK_AFTER_IDLE = 1.0
_used_at = -math.inf
# Where handlers are called: in this process (None), or each in a work horse of its own (the forking Worker).
_work_horse: ContextVar[WorkHorse | None] = ContextVar("jobs_app_work_horse", default=None)


@contextmanager
def calling_handlers_in(horse: WorkHorse) -> Iterator[None]:
    """Within this block, each handler's call runs in a child process of `horse`'s worker."""
    token = _work_horse.set(horse)
    try:
        yield
    finally:
        _work_horse.reset(token)


def execute(job_id: str) -> Retry | None:
    """RQ's entry point: run one attempt of the job `job_id`.

    Returns `None` when the attempt is over for RQ, or an RQ `Retry` to have RQ
    deliver the job again after the backoff.
    """
    global _used_at
    _reuse_connections()
    try:
        return _execute(job_id)
    finally:
        _used_at = time.monotonic()


def _reuse_connections() -> None:
    close_old_connections()
    if time.monotonic() - _used_at < HEALTH_CHECK_AFTER_IDLE:
        for used in connections.all(initialized_only=True):
            used.health_check_done = True  # type: ignore[attr-defined]  # Django's, not in its stubs


def _execute(job_id: str) -> Retry | None:
    try:
        job_pk = uuid.UUID(str(job_id))
    except ValueError:
        logger.warning(
            "Skipped: RQ job %s is not a jobs_app job (its id is not a job id)",
            job_id,
            extra=job_id_extra(job_id, outcome="skipped"),
        )
        return None
    current = get_current_job()
    worker_name = (current.worker_name if current else None) or ""
    for _round in range(_CLAIM_ROUNDS):
        # One `now` for the claim and the look at a missed row: a row that falls due between two
        # clocks would otherwise be neither claimed nor deferred, and its delivery dropped.
        now = timezone.now()
        job = services.claim(job_pk, worker_name=worker_name, now=now)
        if job is not None:
            deferred = _deferred_by_pause(job) or _deferred_by_breaker(job)
            if deferred is not None:
                return deferred
            return _run_attempt(job)  # services sends attempt_recorded: jobs_app.backends' task_finished
        row = Job.objects.filter(pk=job_pk).only("state", "scheduled_for", "handler").first()
        if row is None:
            logger.warning("Skipped: RQ job %s has no Job row", job_id, extra=job_id_extra(job_id, outcome="skipped"))
            return None
        if row.state not in RUNNABLE:
            logger.info(
                "Skipped: %s is %s, not waiting to run (a duplicate delivery?)",
                row.label,
                row.state,
                extra=job_extra(row, outcome="skipped"),
            )
            return None
        if row.state == State.SCHEDULED and row.scheduled_for and row.scheduled_for > now:
            # Delivered early (clock skew between hosts, a duplicate push): put it back.
            logger.info(
                "Deferred: %s is scheduled for %s",
                row.label,
                row.scheduled_for.isoformat(),
                extra=job_extra(row, outcome="deferred"),
            )
            return _redeliver_after((row.scheduled_for - now).total_seconds())
        # Waiting and due, yet the claim missed: the row changed in between (a retry recorded, or a
        # re-run, after our claim). Claim again with a fresh clock rather than drop the delivery.
    logger.info(
        "Deferred: %s is due but could not be claimed; RQ delivers it again",
        job_pk,
        extra=job_id_extra(job_pk, outcome="deferred"),
    )
    return _redeliver_after(1)


def _redeliver_after(seconds: float) -> Retry:
    """Have RQ deliver this job again after `seconds` (whole seconds, at least 1); RQ's count must not run out."""
    return Retry(max=_UNLIMITED, interval=max(1, math.ceil(seconds)))


def _run_attempt(job: Job) -> Retry | None:
    progress = f"attempt {job.attempts}/{job.max_attempts}"
    logger.info("Processing: %s (%s)", job.label, progress, extra=job_extra(job, outcome="started"))
    started_at = timezone.now()
    clock = time.monotonic()
    handler: Handler | None = None
    try:
        handler = get_handler(job.handler)
        result = _call(handler, job)
    except Exception as error:
        elapsed_ms = round((time.monotonic() - clock) * 1000)
        logger.warning(
            "Failed: %s after %dms (%s) - %s",
            job.label,
            elapsed_ms,
            progress,
            error,
            extra=job_extra(job, outcome="failed", duration_ms=elapsed_ms),
        )
        _feed_breaker(handler, succeeded=False)
        return _after_failure(job, handler, error, started_at)
    elapsed_ms = round((time.monotonic() - clock) * 1000)
    _feed_breaker(handler, succeeded=True)
    services.record_success(job, started_at=started_at, result=result)
    logger.info(
        "Succeeded: %s after %dms (%s)",
        job.label,
        elapsed_ms,
        progress,
        extra=job_extra(job, outcome="succeeded", duration_ms=elapsed_ms),
    )
    return None


def _deferred_by_pause(job: Job) -> Retry | None:
    """While the job's queue or handler is paused: put the job back unrun, its attempt not spent."""
    try:
        pause = pauses.holding(job.queue, job.handler)
    except RedisError as error:
        logger.warning("Pause flags cannot be read (%s); %s runs", error, job.label, extra=job_extra(job))
        return None
    if pause is None:
        return None
    wait = to_seconds(app_settings.PAUSE_RECHECK, name="PAUSE_RECHECK")
    if not services.release(job, until=timezone.now() + timedelta(seconds=wait)):
        return None
    logger.info("Deferred: %s, %s", job.label, pause, extra=job_extra(job, outcome="paused"))
    return _redeliver_after(wait)


def _deferred_by_breaker(job: Job) -> Retry | None:
    """While the job's circuit breaker is open: put the job back unrun, its attempt not spent."""
    try:
        handler = get_handler(job.handler)
    except HandlerNotFound:
        return None
    if handler.breaker is None:
        return None
    try:
        decision = Breaker(handler.breaker).acquire()
    except RedisError as error:
        logger.warning(
            "Breaker %s cannot be read (%s); %s runs", handler.breaker, error, job.label, extra=job_extra(job)
        )
        return None
    retry_at = decision.retry_at
    if decision.allowed or retry_at is None or not services.release(job, until=retry_at):
        return None
    logger.info(
        "Deferred: %s until %s, breaker %s is open",
        job.label,
        retry_at.isoformat(),
        handler.breaker,
        extra=job_extra(job, outcome="deferred"),
    )
    return _redeliver_after((retry_at - timezone.now()).total_seconds())


def _feed_breaker(handler: Handler | None, *, succeeded: bool) -> None:
    if handler is None or handler.breaker is None:
        return
    try:
        breaker = Breaker(handler.breaker)
        breaker.record_success() if succeeded else breaker.record_failure()
    except RedisError as error:
        logger.warning("Breaker %s cannot be updated (%s)", handler.breaker, error)


def _call(handler: Handler, job: Job) -> Any:
    """The handler's call, its value made storable: here, or in a work horse of its own."""
    work = lambda: encode_result(job.handler, _call_with_timeout(handler, job))  # noqa: E731
    horse = _work_horse.get()
    if horse is None:
        return work()
    hooked = handler.on_retry is not None or handler.on_failure is not None
    return horse.call(
        work,
        describe=functools.partial(_report, handler),
        follow_up=functools.partial(_run_hook, handler, job) if hooked else None,
    )


def _call_with_timeout(handler: Handler, job: Job) -> Any:
    args = list(job.args)
    if handler.takes_context:
        args.insert(0, JobContext(job=job, attempt=job.attempts, report=services.set_progress))
    timeout = transport.handler_timeout(job.queue, job.timeout)
    # SIGALRM where we can (the worker's main thread); a timer thread elsewhere.
    on_main_thread = threading.current_thread() is threading.main_thread()
    death_penalty = UnixSignalDeathPenalty if on_main_thread else TimerDeathPenalty
    with death_penalty(timeout, JobTimeout, job_id=str(job.pk)):
        return handler.func(*args, **job.kwargs)


def _report(handler: Handler | None, error: BaseException) -> ErrorReport:
    return ErrorReport.of(
        error,
        give_up_on=handler.give_up_on if handler is not None else (),
        traceback=formatted_traceback(error),
    )


def _after_failure(job: Job, handler: Handler | None, error: Exception, started_at: datetime) -> Retry | None:
    if isinstance(error, HandlerFailed):  # in a work horse, which reported it
        report, outcome = error.report, error.outcome
    else:
        report = _report(handler, error)
        outcome = JobAttempt.Outcome.TIMED_OUT if report.timed_out else JobAttempt.Outcome.FAILED
    decision = services.end_attempt(
        job,
        outcome=outcome,
        error=report,
        give_up_on=None if handler is None else handler.give_up_on,
        started_at=started_at,
        redelivered_by_rq=True,
    )
    # None: someone else moved the row on (the repair, a re-run): theirs to deliver, no hook.
    verdict = None if decision is None else decision.verdict
    if isinstance(error, HandlerFailed):
        error.after_verdict(verdict)  # the hook runs in the work horse, with the exception itself
    elif handler is not None:
        _run_hook(handler, job, error, verdict)
    if decision is not None and decision.verdict == Verdict.RETRY:
        return _retry_after(
            decision.delay, attempts_left=job.max_attempts - job.attempts, dispatch=services.dispatch_of(job)
        )
    return None


def _run_hook(handler: Handler, job: Job, error: BaseException, verdict: str | None) -> None:
    """The handler's `on_retry` after a retry was recorded, `on_failure` after it failed or went dead."""
    if verdict == Verdict.RETRY:
        _call_hook(handler.on_retry, "on_retry", job, error)
    elif verdict is not None:
        _call_hook(handler.on_failure, "on_failure", job, error)


class Redelivery(Retry):
    """RQ's `Retry` for a retry the row already records, with the job's `dispatch`: jobs_app's workers end the RQ job
    and push the dispatch as they push a new job (`lean`); any other RQ worker takes it as a plain `Retry`."""

    def __init__(self, *, max: int, interval: int, dispatch: transport.Dispatch) -> None:
        super().__init__(max=max, interval=interval)
        self.dispatch = dispatch


def _retry_after(delay: float, *, attempts_left: int, dispatch: transport.Dispatch) -> Retry:
    """Have RQ deliver the job again after `delay` seconds (whole seconds: RQ's unit).

    `max` is set so that RQ's own check always passes and its log line ("N remaining")
    tells the attempts left.
    """
    current = get_current_job()
    retries_so_far = (current.number_of_retries or 0) if current else 0
    return Redelivery(max=retries_so_far + 1 + attempts_left, interval=math.ceil(delay), dispatch=dispatch)


def _call_hook(hook: Callable[[Job, BaseException], Any] | None, name: str, job: Job, error: BaseException) -> None:
    if hook is None:
        return
    try:
        hook(job, error)
    except Exception:
        logger.exception("The %s hook of %s raised; the job is unaffected", name, job.label, extra=job_extra(job))
