"""A web process killed while a batch is in its database transaction: the client sees an
error, nothing of the batch is stored, and the client's retry stores every event once.

The test holds the request at the last moment of its transaction, after every event and
de-duplication key is written and before the commit: a statement trigger on the event table,
added for this test only, waits for an advisory lock the test holds. The test then kills the
gunicorn worker process taking the request (SIGKILL: no exception handler, no rollback from
Django), releases the lock, and looks at what the database kept."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from django.db import connection

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.models import Event, MessageKey, Source
from tests.faults.conftest import test_database_url

pytestmark = pytest.mark.slow

EVENTS = 2500
# The advisory lock the trigger waits for: a pair of 32-bit keys, a space of its own apart
# from the single 64-bit keys identity resolution takes.
LOCK = (24, 2500)

_HOLD = f"""
CREATE FUNCTION fault_test_hold_ingest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({LOCK[0]}, {LOCK[1]});
    RETURN NULL;
END $$;
CREATE TRIGGER fault_test_hold_ingest AFTER INSERT ON ingestion_event
    FOR EACH STATEMENT EXECUTE FUNCTION fault_test_hold_ingest();
"""
_RELEASE = """
DROP TRIGGER IF EXISTS fault_test_hold_ingest ON ingestion_event;
DROP FUNCTION IF EXISTS fault_test_hold_ingest();
"""


@pytest.fixture
def ingest_held(transactional_db):
    """While the test holds the lock, every event insert waits at its end, in its
    transaction. Yields the lock holder's connection."""
    with psycopg.connect(test_database_url(), autocommit=True) as holder:
        with connection.cursor() as cursor:
            cursor.execute(_RELEASE + _HOLD)  # a run stopped midway may have left it
        try:
            yield holder
        finally:
            holder.execute("SELECT pg_advisory_unlock_all()")
            with connection.cursor() as cursor:
                cursor.execute(_RELEASE)


def wait_for_blocked_backend(holder: psycopg.Connection, *, timeout: float = 60) -> int:
    """The Postgres backend waiting for the holder's lock, once it has written rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = holder.execute(
            "SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity"
            " WHERE pg_blocking_pids(pid) @> ARRAY[pg_backend_pid()]"
        ).fetchone()
        if row is not None:
            pid, has_written = row
            assert has_written, "the ingest transaction waits before writing anything"
            return pid
        time.sleep(0.05)
    pytest.fail(f"no ingest transaction reached the held lock within {timeout}s")


def wait_for_backend_gone(holder: psycopg.Connection, pid: int, *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while holder.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
        assert time.monotonic() < deadline, f"backend {pid} outlived its killed client"
        time.sleep(0.05)


def test_a_web_process_killed_mid_batch_stores_nothing_and_the_retry_stores_each_event_once(
    web_server, ingest_held
):
    source = services.source_create(
        actor=Actor.system("test"), name="Shop", kind=Source.Kind.SERVER
    )
    key = source.write_keys.get().key
    ids = [f"kill-{n:04d}" for n in range(EVENTS)]
    body = {
        "batch": [
            {"type": "track", "event": "Product Viewed", "userId": f"u{n % 50}",
             "messageId": message_id, "properties": {"sku": f"S-{n}", "price": 9.5}}
            for n, message_id in enumerate(ids)
        ]
    }  # fmt: skip
    server = web_server(test_database_url())
    server.start()

    def send(tag: str) -> requests.Response:
        return requests.post(
            f"{server.url}/v1/batch",
            json=body,
            auth=(key, ""),
            headers={"X-Fault-Tag": tag},
            timeout=60,
        )

    holder = ingest_held
    holder.execute("SELECT pg_advisory_lock(%s, %s)", LOCK)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(send, "first")
        backend = wait_for_blocked_backend(holder)
        # Every key and event of the batch is written, uncommitted.
        (written,) = holder.execute(
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND granted"
            " AND relation = 'ingestion_event'::regclass AND mode = 'RowExclusiveLock'",
            [backend],
        ).fetchone()
        assert written == 1
        os.kill(server.handler_of("first"), signal.SIGKILL)
        try:
            response = first.result(timeout=60)
        except requests.ConnectionError:
            pass  # the connection was reset: what a client of a dead process sees
        else:
            assert response.status_code >= 500, response.text
    holder.execute("SELECT pg_advisory_unlock(%s, %s)", LOCK)
    # Postgres finds its client gone and rolls the transaction back.
    wait_for_backend_gone(holder, backend)

    assert not Event.objects.filter(message_id__in=ids).exists()
    assert not MessageKey.objects.filter(message_id__in=ids).exists()

    retry = send("retry")
    assert retry.status_code == 200, retry.text
    assert (retry.json()["accepted"], retry.json()["duplicates"]) == (EVENTS, 0)
    stored = Event.objects.filter(source=source, message_id__in=ids)
    assert stored.count() == EVENTS
    assert stored.values("message_id").distinct().count() == EVENTS
    assert MessageKey.objects.filter(source=source, message_id__in=ids).count() == EVENTS

    again = send("again")
    assert again.status_code == 200, again.text
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, EVENTS)
    assert Event.objects.filter(source=source).count() == EVENTS
