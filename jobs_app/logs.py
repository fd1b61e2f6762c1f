"""Structured fields for the log lines about one job.

Every `logger.info(...)` about a job passes `extra=job_extra(job, ...)`: the human line stays
as it is (people grep it), and a JSON formatter gets real fields (`job_id`, `handler`, `queue`,
`attempt`, `max_attempts`, `outcome`, `duration_ms`, `worker`) instead of parsing the message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Job

# The fields every line about a job carries (None when not known for that line).
FIELDS = ("job_id", "handler", "queue", "attempt", "max_attempts", "outcome", "duration_ms", "worker")


def job_extra(job: Job, **fields: Any) -> dict[str, Any]:
    """The `extra=` of a log line about `job`: its id, handler, queue, attempt and worker, plus `fields`.

    `fields` may set `outcome`, `duration_ms` or override any of the others; unknown names are
    passed on too (they must not clash with `logging.LogRecord`'s own attributes).
    """
    extra: dict[str, Any] = dict.fromkeys(FIELDS)
    extra.update(
        job_id=str(job.pk),
        handler=job.handler,
        queue=job.queue,
        attempt=job.attempts,
        max_attempts=job.max_attempts,
        worker=job.worker_name or None,
    )
    extra.update(fields)
    return extra


def job_id_extra(job_id: object, **fields: Any) -> dict[str, Any]:
    """The `extra=` of a log line about a job id that has no row (or whose row is not at hand)."""
    return {**dict.fromkeys(FIELDS), "job_id": str(job_id), **fields}
