"""Jobs and attempts as JSON-ready dicts. Times are ISO 8601 strings (UTC), durations are seconds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..breaker import BreakerState
from ..models import Job, JobAttempt
from ..stats import Timing

# The fields of a job in the failed list, in order.
SUMMARY_FIELDS = (
    "id",
    "handler",
    "queue",
    "state",
    "args",
    "kwargs",
    "error_type",
    "error_message",
    "failed_at",
    "attempts",
    "max_attempts",
    "auto_retries",
)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def job_summary(job: Job) -> dict[str, Any]:
    return {
        "id": str(job.pk),
        "handler": job.handler,
        "queue": job.queue,
        "state": job.state,
        "args": job.args,
        "kwargs": job.kwargs,
        "error_type": job.error_type,
        "error_message": job.error_message,
        "failed_at": iso(job.failed_at),
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "auto_retries": job.auto_retries,
    }


def attempt_detail(attempt: JobAttempt) -> dict[str, Any]:
    return {
        "cycle": attempt.cycle,
        "number": attempt.number,
        "outcome": attempt.outcome,
        "started_at": iso(attempt.started_at),
        "finished_at": iso(attempt.finished_at),
        "duration": attempt.duration.total_seconds(),
        "error_type": attempt.error_type,
        "error_message": attempt.error_message,
        "traceback": attempt.traceback,
        "worker_name": attempt.worker_name,
    }


def job_detail(job: Job) -> dict[str, Any]:
    """Everything about one job, with its attempts oldest first (`history` should be prefetched)."""
    return {
        **job_summary(job),
        "priority": job.priority,
        "backoff": job.backoff,
        "timeout": job.timeout,
        "cycle": job.cycle,
        "created_at": iso(job.created_at),
        "scheduled_for": iso(job.scheduled_for),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "traceback": job.traceback,
        "result": job.result,
        "progress": job.progress,
        "progress_message": job.progress_message,
        "idempotency_key": job.idempotency_key,
        "worker_name": job.worker_name,
        "needs_push": job.needs_push,
        "history": [attempt_detail(attempt) for attempt in job.history.all()],
    }


def breaker_state(breaker: BreakerState) -> dict[str, Any]:
    """One circuit breaker for `/metrics`: its state, counts, and the settings it runs with."""
    return {
        "state": breaker.state,
        "failures": breaker.failures,
        "successes": breaker.successes,
        "deferred": breaker.deferred,
        "opened_at": iso(breaker.opened_at),
        "retry_at": iso(breaker.retry_at),
        "failure_threshold": breaker.settings.failure_threshold,
        "recovery_timeout": breaker.settings.recovery_timeout,
        "success_threshold": breaker.settings.success_threshold,
    }


def handler_timing(timing: Timing) -> dict[str, Any]:
    return {
        "runs": timing.runs,
        "failed": timing.failed,
        "failure_rate": round(timing.failure_rate, 4),
        "p50_seconds": None if timing.p50 is None else round(timing.p50, 4),
        "p95_seconds": None if timing.p95 is None else round(timing.p95, 4),
        "per_minute": round(timing.per_minute, 4),
    }
