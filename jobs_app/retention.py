"""Deleting finished jobs past their retention, with their attempts, in batches."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.utils import timezone

from . import services
from .conf import app_settings
from .states import TERMINAL, State

# Finished for good: the states a purge deletes, in a stable order.
PURGEABLE = tuple(state for state in State if state in TERMINAL)
BATCH_SIZE = 1000
_DURATION = re.compile(r"^\s*(\d+)\s*([dhms])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(value: str) -> timedelta:
    """`14d`, `12h`, `30m` or `45s` as a timedelta; ValueError for anything else."""
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"expected a number and a unit, like 14d, 12h, 30m or 45s, got {value!r}")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def retention() -> dict[str, timedelta]:
    """`JOBS_APP["RETENTION"]` by state, missing states taken from the defaults."""
    return app_settings.retention


def purge(
    *,
    older_than: timedelta | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
) -> dict[str, int]:
    """Delete succeeded, dead and cancelled jobs (and their attempts) that finished longer ago than their
    retention, or than `older_than` for all three. Counts by state; `dry_run` only counts."""
    now = now or timezone.now()
    keep = retention() if older_than is None else dict.fromkeys(PURGEABLE, older_than)
    return services.purge({state: now - keep[state] for state in PURGEABLE}, dry_run=dry_run, batch_size=batch_size)
