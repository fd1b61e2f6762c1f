"""Server-side prepared statements for the worker's two statements a job on PostgreSQL: the claim and the outcome.

Django's PostgreSQL backend binds parameters on the client and never prepares, so PostgreSQL parses and plans
each of these statements on every job: about half of their server time in the pool (see docs/benchmarks.md,
"PostgreSQL's server time, third round"). Prepared through psycopg 3's extended protocol at its second run on a
connection, each is then only bound and executed. On with `JOBS_APP["PREPARED_STATEMENTS"] = True` (the demo
project's setting); off by default, as Django leaves prepared statements off, for a pooler in transaction mode
that cannot carry them across server connections (pgbouncer before 1.21, or without `max_prepared_statements`).

Each statement also keeps its own psycopg cursor on the connection, reused at every run: psycopg keeps a cursor's
adaptation (the dumpers of its parameters, the loaders of its columns) while it runs the same statement again,
and builds it anew for a new cursor (`db.cursor()` makes two) or another statement: about a sixth of the client
CPU of the claim and the outcome ("PostgreSQL's server time, fourth round" in docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

from django.utils.asyncio import async_unsafe

from .conf import app_settings

# The kept cursors, by Django connection (one per thread and alias): its psycopg connection and, by statement, the
# cursors on it. A new psycopg connection (after a close) gets new cursors and the old ones are let go. Not by the
# psycopg connection: the cursors refer to it, which would keep each closed one alive.
_kept: weakref.WeakKeyDictionary[Any, tuple[Any, dict[str, Any]]] = weakref.WeakKeyDictionary()


def cursor(db: Any, sql: str) -> Any:
    """`db.cursor()`, to run `sql` (and, on other databases than PostgreSQL, more statements).

    On PostgreSQL with psycopg 3 and `PREPARED_STATEMENTS` on, the connection's kept cursor for `sql` (pass the
    same string object at every run: psycopg keeps its adaptation for the very same query), whose statement is
    prepared once per connection. Django's wrapper (query logging, execute wrappers, error translation) is kept;
    closing it leaves the kept cursor open for the next run.
    """
    if db.vendor == "postgresql" and app_settings.PREPARED_STATEMENTS:
        preparing = _preparing_cursor_class()
        if preparing is not None:
            return _kept_cursor(db, preparing, sql)
    return db.cursor()


@async_unsafe
def _kept_cursor(db: Any, preparing: type, sql: str) -> Any:
    # What `db.cursor()` does (the health check, the connection, the thread check, Django's wrapper), with the
    # statement's kept cursor in place of a new one.
    db.close_if_health_check_failed()
    db.ensure_connection()
    raw = db.connection
    on, kept = _kept.get(db, (None, {}))
    if on is not raw:
        on, kept = _kept[db] = (raw, {})
    statement_cursor = kept.get(sql)
    if statement_cursor is None or statement_cursor.closed:
        statement_cursor = kept[sql] = _preparing(db, preparing, raw)
    statement_cursor.logged = db.queries_logged
    return db._prepare_cursor(statement_cursor)


def _preparing(db: Any, preparing: type, raw: Any) -> Any:
    from django.db.backends.postgresql import base
    from psycopg.pq import Format

    prepared = preparing(raw)
    # As Django's `create_cursor`: the cursor reads times in the connection's zone when psycopg's does not.
    if db.timezone != raw.adapters.get_loader(base.TIMESTAMPTZ_OID, Format.TEXT).timezone:  # type: ignore[attr-defined]
        base.register_tzloader(db.timezone, prepared)  # type: ignore[attr-defined]
    return prepared


@functools.cache
def _preparing_cursor_class() -> type | None:
    """A psycopg 3 cursor binding on the server that prepares every statement it runs; None with psycopg 2."""
    from django.db.backends.postgresql import base

    if not base.is_psycopg3:  # type: ignore[attr-defined]
        return None

    class PreparingCursor(base.ServerBindingCursor):  # type: ignore[name-defined]
        logged = False  # Django logs the queries of this connection (DEBUG, CaptureQueriesContext)

        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: Any = None) -> Any:
            # Prepared from its second run on the connection: preparing costs a round trip of its own, which a
            # connection that runs the statement once (a forking worker's work horse) would pay for nothing.
            # Django opens connections with `prepare_threshold=None` (nothing prepared, nothing counted): the
            # threshold is lifted for this statement only, so that no other query is counted or prepared.
            connection = self.connection
            threshold = connection.prepare_threshold
            connection.prepare_threshold = 1
            try:
                super().execute(query, params, binary=binary)
            finally:
                connection.prepare_threshold = threshold
            if self.logged and self._query is None:  # type: ignore[has-type]
                # psycopg keeps no text of a prepared statement's run; Django's query log reads it from here.
                self._query = self._convert_query(query, params)
            return self

        def close(self) -> None:
            """Drop the results but stay open: the connection's next statement reuses this cursor (Django's
            wrapper closes its cursor at the end of each `with`)."""
            self._reset()

    return PreparingCursor
