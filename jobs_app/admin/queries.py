"""Queries the admin's failed list needs to stay fast on a large table."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Max, Min
from django.utils import timezone

from ..models import JobQuerySet

_TRUNCATED = {
    "year": {"month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "microsecond": 0},
    "month": {"day": 1, "hour": 0, "minute": 0, "second": 0, "microsecond": 0},
    "day": {"hour": 0, "minute": 0, "second": 0, "microsecond": 0},
}


def _next_period(start: datetime, kind: str) -> datetime:
    if kind == "day":
        return start + timedelta(days=1)
    if kind == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start.replace(year=start.year + 1)


class FailedJobQuerySet(JobQuerySet):
    def aggregate(self, *args, **kwargs):
        """Django's `aggregate()`, with several plain MIN and MAX asked one query each.

        The admin's date hierarchy asks for the first and last `failed_at` together; SQLite
        answers a lone MIN or MAX with one index seek but scans every row for both at once
        (PostgreSQL seeks either way).
        """
        if not args and len(kwargs) > 1 and all(_plain_extreme(value) for value in kwargs.values()):
            return {
                name: super(FailedJobQuerySet, self).aggregate(**{name: value})[name] for name, value in kwargs.items()
            }
        return super().aggregate(*args, **kwargs)

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        """Django's `datetimes()` for years, months and days, found by skipping from one period to the next.

        One MIN query per period that holds rows (an index seek each), instead of truncating
        every row (Django's way, a Python function per row on SQLite): the admin's date
        hierarchy then costs about the same however many failed jobs there are.
        """
        if kind not in _TRUNCATED:
            return super().datetimes(field_name, kind, order=order, tzinfo=tzinfo)
        zone = tzinfo or timezone.get_current_timezone()
        rows = self.order_by()
        periods: list[datetime] = []
        while True:
            since = {f"{field_name}__gte": _next_period(periods[-1], kind)} if periods else {}
            first = rows.filter(**since).aggregate(first=Min(field_name))["first"]
            if first is None:
                break
            periods.append(first.astimezone(zone).replace(**_TRUNCATED[kind]))
        return periods if order == "ASC" else periods[::-1]


def _plain_extreme(aggregate: object) -> bool:
    # django-stubs 5.2 leave out Aggregate.distinct, which every aggregate has.
    return isinstance(aggregate, Min | Max) and aggregate.filter is None and not aggregate.distinct  # type: ignore[union-attr]
