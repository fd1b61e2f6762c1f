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

from django.utils import timezone

from . import services
from .conf import app_settings
from .groups import jobs_of
from .models import FailureGroup, Job, JobQuerySet
from .states import TERMINAL, State

BATCH_SIZE = 1000


@dataclass(frozen=True, kw_only=True)
class GroupRetry:
    """A group retried at `rate` jobs a second: `retried` jobs scheduled, the last one for `last_run_at`."""

    retried: int
    rate: float
    last_run_at: datetime | None


def retry_rate(rate: float | str | None) -> float:
    """A rate in jobs a second, above 0; None or "" means `JOBS_APP["GROUP_RETRY_RATE"]`. ValueError otherwise."""
    if rate is None or rate == "":
        return float(app_settings.GROUP_RETRY_RATE)
    if isinstance(rate, bool):
        raise ValueError("the rate must be a number of jobs a second above 0")
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise ValueError(f"the rate must be a number of jobs a second above 0, got {rate!r}") from None
    if not 0 < value <= 1_000_000:
        raise ValueError(f"the rate must be a number of jobs a second above 0 (and at most 1,000,000), got {rate!r}")
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
    finished = jobs.filter(state__in=TERMINAL)
    deleted = 0
    while pks := list(finished.order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE]):
        Job.objects.filter(pk__in=pks, state__in=TERMINAL).delete()
        deleted += len(pks)
    return deleted


def set_status(fingerprints: Sequence[str], status: str) -> int:
    """Resolve, mute or reopen (unmute) groups; returns how many. Resolving clears `regressed`: the group's
    next failure reopens it and marks it regressed."""
    status = FailureGroup.Status(status)
    changes: dict = {"status": status}
    if status == FailureGroup.Status.RESOLVED:
        changes.update(regressed=False, resolved_at=timezone.now())
    return FailureGroup.objects.filter(pk__in=list(fingerprints)).update(**changes)
