"""Statement timeouts, recognising a statement Postgres stopped, and many rows updated in one
statement."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from cdp_project.core.db import (
    query_canceled,
    rows_update,
    sqlstate,
    statement_timeout,
    statement_timeout_set,
)
from ingestion.models import Source

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


def test_rows_update_writes_each_rows_own_values_in_one_statement():
    sources = [Source.objects.create(name=f"Shop {i}") for i in range(3)]
    untouched = Source.objects.create(name="Untouched")
    for i, source in enumerate(sources):
        source.name = f"Renamed {i} \"quoted\" 'too'"
        source.retention_days = i or None
    with CaptureQueriesContext(connection) as queries:
        assert rows_update(Source, sources, ["name", "retention_days"]) == 3
    assert len(queries) == 1
    assert list(Source.objects.order_by("pk").values_list("name", "retention_days")) == [
        ("Renamed 0 \"quoted\" 'too'", None),
        ("Renamed 1 \"quoted\" 'too'", 1),
        ("Renamed 2 \"quoted\" 'too'", 2),
        ("Untouched", untouched.retention_days),
    ]
    assert rows_update(Source, [], ["name"]) == 0
