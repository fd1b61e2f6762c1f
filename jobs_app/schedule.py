"""`Schedule`: when a recurring handler runs, as a value: a cron expression or a period, and how long
it may go without a success. Checked when the handler is declared; pure, no database, no Redis.

A recurring handler's slots are the times its cron expression names (UTC), or multiples of its
period counted from the Unix epoch. `recurring.py` turns each slot into at most one job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from .policy import Seconds, to_seconds

# How many gaps between a cron expression's runs are measured to find its longest.
_GAPS_MEASURED = 400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_REFERENCE = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """A cron expression (`cron`) or a period in seconds (`every`), and `max_interval`: the seconds
    it may go without a successful run before it counts as unhealthy (1.5 periods unless given)."""

    cron: str | None = None
    every: float | None = None
    max_interval: float = 0.0

    @classmethod
    def declared(
        cls, name: str, *, schedule: str | None, every: Seconds | None, max_interval: Seconds | None
    ) -> Schedule | None:
        """The schedule a handler's `schedule=`, `every=` and `max_interval=` declare (None: not recurring);
        `TypeError` or `ValueError`, naming the handler, for options that do not fit."""
        if schedule is not None and every is not None:
            raise TypeError(f"{name}: give schedule= (cron) or every= (a period), not both")
        if schedule is not None and (not isinstance(schedule, str) or not croniter.is_valid(schedule)):
            raise ValueError(
                f"{name}: schedule must be a cron expression such as '0 0 * * *' (minute hour day month weekday), "
                f"got {schedule!r}"
            )
        every_seconds = None if every is None else to_seconds(every, name=f"{name}: every")
        if every_seconds is not None and every_seconds < 1:
            raise ValueError(f"{name}: every must be at least 1 second, got {every!r}")
        if max_interval is not None and schedule is None and every is None:
            raise TypeError(f"{name}: max_interval= only means something with schedule= or every=")
        limit = None if max_interval is None else to_seconds(max_interval, name=f"{name}: max_interval")
        if limit == 0:
            raise ValueError(f"{name}: max_interval must be more than 0 seconds")
        if schedule is None and every_seconds is None:
            return None
        declared = cls(cron=schedule, every=every_seconds)
        return cls(cron=schedule, every=every_seconds, max_interval=limit or 1.5 * declared.period())

    def period(self) -> float:
        """Seconds between runs: `every`, or the longest gap between two runs of the cron expression."""
        if self.every is not None:
            return self.every
        times = self._cron(_REFERENCE)
        previous = times.get_next(datetime)
        longest = 0.0
        for _ in range(_GAPS_MEASURED):
            current = times.get_next(datetime)
            longest = max(longest, (current - previous).total_seconds())
            previous = current
        return longest

    def previous_slot(self, now: datetime) -> datetime:
        """The latest slot at or before `now`: the occurrence that is due."""
        now = now.astimezone(UTC)
        if self.every is not None:
            elapsed = (now - _EPOCH).total_seconds()
            return _EPOCH + timedelta(seconds=elapsed - elapsed % self.every)
        # croniter's get_prev() is strictly before its start: start a hair later so `now` itself counts.
        return self._cron(now + timedelta(microseconds=1)).get_prev(datetime).astimezone(UTC)

    def next_slot(self, now: datetime) -> datetime:
        """The first slot after `now`."""
        now = now.astimezone(UTC)
        if self.every is not None:
            return self.previous_slot(now) + timedelta(seconds=self.every)
        return self._cron(now).get_next(datetime).astimezone(UTC)

    def _cron(self, start: datetime) -> croniter:
        if self.cron is None:
            raise ValueError("a schedule by period has no cron expression")
        return croniter(self.cron, start)

    def describe(self) -> str:
        """In words, for the admin: `cron 0 0 * * *` or `every 5 minutes`."""
        if self.cron is not None:
            return f"cron {self.cron}"
        seconds = self.period()
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0:
                count = int(seconds // size)
                return f"every {count} {unit}{'s' if count != 1 else ''}"
        return f"every {seconds:g} seconds"
