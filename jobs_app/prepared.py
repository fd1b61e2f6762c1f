"""Server-side prepared statements for the worker's two statements a job on PostgreSQL: the claim and the outcome.

Django's PostgreSQL backend binds parameters on the client and never prepares, so PostgreSQL parses and plans
each of these statements on every job: about half of their server time in the pool (see docs/benchmarks.md,
"PostgreSQL's server time, third round"). Prepared through psycopg 3's extended protocol at its second run on a
connection, each is then only bound and executed. On with `JOBS_APP["PREPARED_STATEMENTS"] = True` (the demo
project's setting); off by default, as Django leaves prepared statements off, for a pooler in transaction mode
that cannot carry them across server connections (pgbouncer before 1.21, or without `max_prepared_statements`).
"""

from __future__ import annotations

import functools
from typing import Any

from .conf import app_settings


def cursor(db: Any) -> Any:
    """`db.cursor()`; on PostgreSQL with psycopg 3 and `PREPARED_STATEMENTS` on, one whose statements are prepared
    once per connection. Django's wrapper (query logging, execute wrappers, error translation) is kept."""
    wrapper = db.cursor()
    if db.vendor == "postgresql" and app_settings.PREPARED_STATEMENTS:
        preparing = _preparing_cursor_class()
        if preparing is not None:
            wrapper.cursor = _preparing(db, preparing, wrapper.cursor)
    return wrapper


def _preparing(db: Any, preparing: type, client_cursor: Any) -> Any:
    from django.db.backends.postgresql import base
    from psycopg.pq import Format

    raw = client_cursor.connection
    prepared = preparing(raw)
    prepared.logged = db.queries_logged
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

    return PreparingCursor
