"""A cursor for the statements ingest runs on every request: bound and prepared on the server.

Django binds parameters on the client (psycopg's `ClientCursor`): a batch's JSON document is
quoted into the SQL text, which psycopg escapes and Postgres then lexes, parses and plans
on every request. A statement run through `prepared_cursor()` is parsed and planned once per
connection, and its parameters travel apart from it, unescaped.

The cursor is Django's own wrapper around it, so the connection's health check, Django's
database exceptions and the query log (`CaptureQueriesContext`) work as for any cursor.
Only statements written out in full belong here: a prepared statement must be the same
text every time, and the ORM's SQL is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


class _PreparingCursor(psycopg.Cursor):
    """Prepares every statement it runs (psycopg keeps the last 100 per connection)."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> _PreparingCursor:
        kwargs.setdefault("prepare", True)
        return super().execute(query, params, **kwargs)


class _DebugCursor(CursorDebugWrapper):
    """Logs a statement as written, placeholders and parameters apart: Django rebuilds the
    executed SQL from what a client-side cursor sent, which this cursor does not keep."""

    @contextmanager
    def debug_sql(
        self,
        sql: str | None = None,
        params: Any = None,
        use_last_executed_query: bool = False,
        many: bool = False,
    ) -> Iterator[None]:
        with super().debug_sql(sql, params, use_last_executed_query=False, many=many):
            yield


def prepared_cursor() -> CursorWrapper:
    """Like `connection.cursor()`, for statements that are the same text on every call."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = _PreparingCursor(connection.connection)
        connection.validate_thread_sharing()
        if connection.queries_logged:
            return _DebugCursor(cursor, connection)
        # django-stubs types the argument as Django's wrapper; Django wraps a driver cursor.
        return connection.make_cursor(cursor)  # type: ignore[arg-type]
