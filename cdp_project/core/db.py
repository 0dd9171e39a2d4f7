"""Database helpers every app uses: limiting how long statements may run, and recognising
the error Postgres raises when it stops one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

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
