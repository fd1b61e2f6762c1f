"""What an operator does with a failure group, or with failed jobs picked by hand.

Retry at a rate, move to dead, resolve, mute, unmute; and for the failed list, move to dead
and delete. The admin, the API and the commands call these; they change jobs only through
`services`, with the conditions those functions put on each row's state, so two operators
acting at once never re-run a job twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from . import groups, services
from .conf import app_settings
from .fingerprint import Fingerprint, error_type_from_traceback, fingerprint, project_frame
from .groups import jobs_of
from .models import FailureGroup, Job, JobQuerySet
from .states import FAILED_OR_DEAD, State

BATCH_SIZE = 1000


@dataclass(frozen=True, kw_only=True)
class GroupRetry:
    """A group retried at `rate` jobs a second: `retried` jobs scheduled, the last one for `last_run_at`."""

    retried: int
    rate: float
    last_run_at: datetime | None


MIN_RATE = 0.001  # one job every 1,000 s
MAX_RATE = 1_000_000


def retry_rate(rate: float | str | None) -> float:
    """A rate in jobs a second, above 0; None or "" means `JOBS_APP["GROUP_RETRY_RATE"]`. ValueError otherwise."""
    if rate is None or rate == "":
        return float(app_settings.GROUP_RETRY_RATE)
    if isinstance(rate, bool):
        raise ValueError("the rate must be a number of jobs a second above 0")
    try:
        value = float(rate)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"the rate must be a number of jobs a second above 0, got {rate!r}") from None
    # Bounded below too: at a rate near 0, the last job's time (i / rate seconds away) leaves datetime's range.
    if not MIN_RATE <= value <= MAX_RATE:
        raise ValueError(f"the rate must be a number of jobs a second from {MIN_RATE} to {MAX_RATE:,}, got {rate!r}")
    return value


def retry(fingerprints: Sequence[str], *, rate: float | None = None, now: datetime | None = None) -> GroupRetry:
    """Re-run the failed and dead jobs of these groups, scheduled `1 / rate` seconds apart from now.

    Spread by scheduling, not by waiting: it returns at once. Jobs another retry has just
    taken are skipped, so retrying one group twice at once re-runs each job once.
    """
    rate = retry_rate(rate)
    spread = services.Spread(start=now or timezone.now(), rate=rate)
    result = services.rerun(jobs_of(fingerprints), spread=spread)
    last_run_at = spread.at(result.retried - 1) if result.retried else None
    return GroupRetry(retried=result.retried, rate=rate, last_run_at=last_run_at)


def move_to_dead(jobs: JobQuerySet) -> int:
    """Move the `failed` ones of `jobs` to `dead` now (no more auto-retries), in batches; returns how many."""
    failed = jobs.filter(state=State.FAILED)
    moved = 0
    last_pk = None
    while rows := failed.page_after(last_pk, (), BATCH_SIZE):
        last_pk = rows[-1][0]
        moved += len(services.dead_letter(Job.objects.filter(pk__in=[pk for (pk,) in rows])))
    return moved


def move_groups_to_dead(fingerprints: Sequence[str]) -> int:
    return move_to_dead(jobs_of(fingerprints))


def delete_terminal(jobs: JobQuerySet) -> int:
    """Delete those of `jobs` that are finished for good (succeeded, dead, cancelled), with their attempts."""
    return services.delete_finished(jobs, batch_size=BATCH_SIZE)


def set_status(fingerprints: Sequence[str], status: str) -> int:
    """Resolve, mute or reopen (unmute) groups; returns how many. Resolving clears `regressed`: the group's
    next failure reopens it and marks it regressed."""
    status = FailureGroup.Status(status)
    changes: dict = {"status": status}
    if status == FailureGroup.Status.RESOLVED:
        changes.update(regressed=False, resolved_at=timezone.now())
    return FailureGroup.objects.filter(pk__in=list(fingerprints)).update(**changes)


def backfill(*, batch_size: int = groups.BACKFILL_BATCH_SIZE) -> int:
    """Fingerprint failed and dead jobs recorded before failure groups existed; returns how many.

    From each row's handler, message and traceback (the dotted class path read from the
    traceback's last line when it has one). One UPDATE per cause and batch; each group's
    counts grow by the jobs found. Safe to run again: fingerprinted jobs are skipped.
    """
    roots = groups.project_roots()
    todo = Job.objects.filter(state__in=FAILED_OR_DEAD, fingerprint="")
    done = 0
    last_pk = None
    while rows := todo.page_after(
        last_pk, ("handler", "error_type", "error_message", "traceback", "failed_at"), batch_size
    ):
        last_pk = rows[-1][0]
        causes: dict[str, tuple[Fingerprint, list]] = {}
        for pk, handler, error_type, message, traceback, failed_at in rows:
            cause = fingerprint(
                handler=handler,
                error_type=error_type_from_traceback(traceback, error_type),
                message=message,
                frame=project_frame(traceback, roots),
            )
            causes.setdefault(cause.value, (cause, []))[1].append((pk, failed_at, message, traceback))
        with transaction.atomic():
            for value, (cause, jobs) in causes.items():
                services.set_fingerprint([job[0] for job in jobs], value)
                groups.add_backfilled(cause, jobs)
        done += len(rows)
    return done
