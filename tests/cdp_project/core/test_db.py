"""Statement timeouts and recognising a statement Postgres stopped."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from cdp_project.core.db import (
    query_canceled,
    sqlstate,
    statement_timeout,
    statement_timeout_set,
)

pytestmark = pytest.mark.django_db


def _current() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        return cursor.fetchone()[0]


def test_a_statement_past_the_timeout_is_stopped_and_recognised():
    with pytest.raises(DatabaseError) as stopped, transaction.atomic():
        statement_timeout_set(50)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(2)")
    assert query_canceled(stopped.value)
    assert sqlstate(stopped.value) == "57014"


@pytest.mark.django_db(transaction=True)
def test_the_timeout_ends_with_its_transaction():
    before = _current()
    with transaction.atomic():
        statement_timeout_set(1500)
        assert _current() == "1500ms"
    assert _current() == before


def test_a_block_puts_the_callers_timeout_back_inside_a_longer_transaction():
    with transaction.atomic():
        statement_timeout_set(5000)
        with transaction.atomic(), statement_timeout(100):
            assert _current() == "100ms"
        # The savepoint was released, which keeps SET LOCAL: the block restored it.
        assert _current() == "5s"


def test_a_block_that_fails_leaves_the_callers_timeout():
    with transaction.atomic():
        statement_timeout_set(5000)
        with (
            pytest.raises(DatabaseError),
            transaction.atomic(),
            statement_timeout(50),
            connection.cursor() as cursor,
        ):
            cursor.execute("SELECT pg_sleep(2)")
        assert _current() == "5s"


def test_other_database_errors_are_not_taken_for_a_timeout():
    with (
        pytest.raises(DatabaseError) as failed,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 1 / 0")
    assert sqlstate(failed.value) == "22012"
    assert not query_canceled(failed.value)
    assert not query_canceled(ValueError("not a database error"))
    assert sqlstate(ValueError("no code")) == ""
