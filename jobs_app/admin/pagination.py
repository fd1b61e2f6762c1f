"""A paginator for tables of hundreds of thousands of jobs."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

ESTIMATE_ABOVE = 10_000


class LargeTablePaginator(Paginator):
    """Exact counts, except for an unfiltered list of a large PostgreSQL table.

    There `COUNT(*)` reads the whole table on every page load, so the planner's row
    estimate (`pg_class.reltuples`, kept fresh by autovacuum) stands in for it. Filtered
    lists (the failed list, a search, a filter) are counted exactly, through their index.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or queryset.query.where:
            return super().count
        estimate = _estimated_rows(queryset.db, queryset.model._meta.db_table)
        return estimate if estimate is not None and estimate > ESTIMATE_ABOVE else super().count


def _estimated_rows(alias: str, table: str) -> int | None:
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return int(row[0]) if row else None
