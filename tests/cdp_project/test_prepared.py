"""Ingest's per-request statements are prepared on the server, once per connection."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from cdp_project.core.prepared import prepared_cursor

pytestmark = pytest.mark.django_db


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_a_batch_is_stored_through_statements_prepared_once(ingest):
    for n in range(3):
        response = ingest(
            "batch",
            {
                "batch": [
                    {"type": "track", "event": "Product Viewed", "anonymousId": f"a{n}"},
                    {"type": "identify", "userId": f"u{n}", "traits": {"email": f"u{n}@x.io"}},
                ]
            },
        )
        assert response.status_code == 200, response.content
        assert response.json()["accepted"] == 2
    statements = prepared_statements()
    for table in ("ingestion_event", "ingestion_messagekey", "profiles_identity"):
        inserts = [s for s in statements if f"INSERT INTO {table}" in s]
        assert len(inserts) == 1, (table, statements)
    # The document travels as a parameter, not quoted into the statement.
    assert "$1::jsonb" in next(s for s in statements if "INSERT INTO ingestion_event" in s)


def test_errors_are_djangos_and_statements_are_in_the_query_log():
    with CaptureQueriesContext(connection) as queries, prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int + 1", [41])
        assert cursor.fetchone() == (42,)
    assert queries.captured_queries[-1]["sql"] == "SELECT %s::int + 1"
    with pytest.raises(IntegrityError), prepared_cursor() as cursor:
        cursor.execute(
            "INSERT INTO ingestion_event (source_id, message_id) VALUES (%s, %s)", [None, "x"]
        )
