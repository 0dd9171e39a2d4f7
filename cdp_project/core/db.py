"""Database helpers every app uses: limiting how long statements may run, recognising the
error Postgres raises when it stops one, and updating many rows in one statement."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, connection, models

# Postgres' code for a statement it stopped: statement_timeout, or a cancel request.
QUERY_CANCELED = "57014"

_SET = "SELECT set_config('statement_timeout', %s, true)"


def statement_timeout_set(milliseconds: float) -> None:
    """Limit every statement for the rest of the current transaction (`SET LOCAL`): undone
    when the transaction (or a savepoint around this call) ends, whether it commits or not.
    Call it inside `transaction.atomic()`: outside one it lasts for a single statement."""
    with connection.cursor() as cursor:
        cursor.execute(_SET, [str(int(milliseconds))])


@contextmanager
def statement_timeout(milliseconds: float) -> Iterator[None]:
    """Limit the statements of the block, then put the caller's limit back. `SET LOCAL`
    outlives a savepoint that is released, so a block inside a longer transaction must
    restore it; when the block raises, its savepoint's rollback undoes the setting."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        (previous,) = cursor.fetchone()
        cursor.execute(_SET, [str(int(milliseconds))])
    yield
    with connection.cursor() as cursor:
        cursor.execute(_SET, [previous])


def sqlstate(error: BaseException) -> str:
    """The SQLSTATE of a database error ("" when it has none). Django wraps the driver's
    exception and keeps it as the cause: psycopg 3 calls the code `sqlstate`, psycopg 2
    `pgcode`."""
    for found in (error.__cause__, error):
        code = getattr(found, "sqlstate", None) or getattr(found, "pgcode", None)
        if code:
            return str(code)
    return ""


def query_canceled(error: BaseException) -> bool:
    """Whether Postgres stopped the statement (its statement_timeout, or a cancel)."""
    return isinstance(error, DatabaseError) and sqlstate(error) == QUERY_CANCELED


def jit_off_set() -> None:
    """No JIT compilation for the rest of the current transaction (`SET LOCAL`). A page of
    grouped counts with a correlated EXISTS per row (conversions, a journey's goal) is
    estimated above `jit_above_cost` and spends more compiling than the JIT saves it:
    tens to hundreds of milliseconds a query. Call it inside `transaction.atomic()`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('jit', 'off', true)")


def rows_update(
    model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str]
) -> int:
    """Write `fields` of each of `rows` (instances of `model`, with their values set in
    memory) in one UPDATE that reads the values from arrays (`unnest`); returns the number of
    rows updated.

    Django's `bulk_update` builds a CASE expression per field and row, which costs more
    Python than the statement costs Postgres (a tenth of a second for 50 rows of six fields);
    this passes one array per field. For plain columns (numbers, text, times, booleans)."""
    if not rows:
        return 0
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    columns: list[models.Field[Any, Any]] = []
    for name in fields:
        column = meta.get_field(name)
        assert isinstance(column, models.Field), name
        columns.append(column)
    arrays: list[list[Any]] = [[pk.get_db_prep_value(row.pk, connection) for row in rows]]
    for column in columns:
        arrays.append(
            [column.get_db_prep_save(getattr(row, column.attname), connection) for row in rows]
        )
    quote = connection.ops.quote_name
    names = [quote(str(column.column)) for column in columns]
    types = [str(pk.rel_db_type(connection))] + [str(c.db_type(connection)) for c in columns]
    # Names and types come from the model's fields, never from input.
    assignments = ", ".join(f"{name} = v.{name}" for name in names)
    arrays_sql = ", ".join(f"%s::{db_type}[]" for db_type in types)
    key = quote(str(pk.column))
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608
        f"FROM unnest({arrays_sql}) AS v({key}, {', '.join(names)}) WHERE t.{key} = v.{key}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return int(cursor.rowcount)
