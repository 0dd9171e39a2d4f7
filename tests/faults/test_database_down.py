"""The database is restarted under steady load: the API answers 503 with Retry-After
meanwhile (so SDKs retry), recovers by itself, and the clients' retries end with every event
stored once. On a second embedded PostgreSQL of the test's own, in a temporary folder, behind
the web server `make run` starts."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import requests

from cdp_project.core.errors import DATABASE_RETRY_AFTER_SECONDS
from tests.faults.conftest import BIN, ROOT

pytestmark = pytest.mark.slow

KEY = "outage-test-key"
BATCH = 20


@pytest.fixture
def throwaway_postgres():
    import pgserver
    from pgserver._commands import pg_ctl

    # Not under pytest's tmp_path: run as root, PostgreSQL runs as another user, which must
    # traverse the folders above its data, and every pytest process that starts takes
    # that right away from /tmp/pytest-of-root (mode 0700), which failed a start or a
    # restart whenever another suite started meanwhile.
    folder = Path(tempfile.mkdtemp(prefix="cdp-fault-pg-"))
    pgdata = folder / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir or pgdata
    with psycopg.connect(host=str(socket_dir), dbname="postgres", user="postgres",
                         autocommit=True) as conn:  # fmt: skip
        conn.execute('CREATE DATABASE "cdp"')

    class Handle:
        url = f"postgres://postgres@{quote(str(socket_dir), safe='')}/cdp"

        def stop(self) -> None:
            try:
                pg_ctl(["-w", "-t", "30", "-m", "fast", "stop"], pgdata=pgdata,
                       user=server.system_user)  # fmt: skip
            except subprocess.CalledProcessError:
                # pg_ctl also fails when the server is already gone; only a live one is wrong.
                try:
                    pg_ctl(["status"], pgdata=pgdata, user=server.system_user)
                except subprocess.CalledProcessError:
                    return  # not running: what stop() is for
                raise

        def start(self) -> None:
            server.ensure_postgres_running()

        def count(self, sql: str) -> int:
            with psycopg.connect(host=str(socket_dir), dbname="cdp", user="postgres") as conn:
                return conn.execute(sql).fetchone()[0]

    yield Handle()
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Sender:
    """An SDK's delivery loop: a batch is sent until it is acknowledged, after a connection
    error or a 5xx too, waiting what `Retry-After` says or else backing off exponentially."""

    url: str
    name: str
    stop: threading.Event
    # Set when the test has failed: the batch in hand is given up rather than retried.
    abandon: threading.Event
    acknowledged: list[str] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)
    refusals: list[requests.Response] = field(default_factory=list)
    connection_errors: int = 0
    failure: BaseException | None = None

    def run(self) -> None:
        try:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                self.deliver([f"{self.name}-{n}-{i}" for i in range(BATCH)])
        except BaseException as exc:  # reported by the test, which asserts there is none
            self.failure = exc

    def deliver(self, ids: list[str]) -> None:
        body = {
            "batch": [
                {"type": "track", "event": "Beat", "userId": f"{self.name}-{i % 3}",
                 "messageId": message_id}
                for i, message_id in enumerate(ids)
            ]
        }  # fmt: skip
        deadline = time.monotonic() + 90
        backoff = 0.1
        while not self.abandon.is_set():
            assert time.monotonic() < deadline, f"{self.name}: a batch never acknowledged"
            try:
                response = requests.post(self.url, json=body, auth=(KEY, ""), timeout=30)
            except requests.ConnectionError:
                self.connection_errors += 1
                wait = backoff
            else:
                self.answers[response.status_code] += 1
                if response.status_code == 200:
                    answer = response.json()
                    assert answer["accepted"] + answer["duplicates"] == BATCH, answer
                    self.acknowledged.extend(ids)
                    return
                self.refusals.append(response)
                if response.status_code < 500 and response.status_code != 429:
                    raise AssertionError(f"{self.name}: refused {response.text}")
                wait = float(response.headers.get("Retry-After", backoff))
            self.abandon.wait(wait)
            backoff = min(backoff * 2, 5)


def test_a_database_restart_under_load_answers_503_and_the_retries_store_each_event_once(
    throwaway_postgres, web_server, tmp_path: Path
):
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": throwaway_postgres.url,
        "CELERY_BROKER_URL": "memory://",
        "CDP_VAR_DIR": str(tmp_path / "var"),
    }
    python = str(BIN / "python")
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                   check=True)  # fmt: skip
    subprocess.run(
        [python, "manage.py", "shell", "-c",
         "from ingestion.models import Source, WriteKey;"
         f"WriteKey.objects.create(source=Source.objects.create(name='Site'), key='{KEY}')"],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    server = web_server(throwaway_postgres.url)
    server.start()

    stop, abandon = threading.Event(), threading.Event()
    senders = [Sender(f"{server.url}/v1/batch", f"c{n}", stop, abandon) for n in range(3)]
    threads = [threading.Thread(target=sender.run, daemon=True) for sender in senders]
    for thread in threads:
        thread.start()

    def acknowledged() -> int:
        return sum(len(sender.acknowledged) for sender in senders)

    def wait_for_load(*, batches: int, timeout: float = 60) -> None:
        """Until every sender has had `batches` more batches acknowledged."""
        goal = [len(sender.acknowledged) + batches * BATCH for sender in senders]
        deadline = time.monotonic() + timeout
        while any(len(s.acknowledged) < n for s, n in zip(senders, goal, strict=True)):
            assert time.monotonic() < deadline, f"{acknowledged()} events acknowledged"
            assert all(sender.failure is None for sender in senders)
            time.sleep(0.1)

    try:
        wait_for_load(batches=3)
        throwaway_postgres.stop()
        probe = requests.post(
            f"{server.url}/v1/batch",
            json={"batch": [{"type": "track", "event": "Probe", "userId": "p"}]},
            auth=(KEY, ""),
            timeout=30,
        )
        assert probe.status_code == 503
        assert probe.headers["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
        assert probe.json()["code"] == "database_unavailable"
        assert probe.json()["message"]
        health = requests.get(f"{server.url}/health/", timeout=30)
        assert (health.status_code, health.json()["status"]) == (503, "down")
        # Every sender is refused at least once while the database is down.
        deadline = time.monotonic() + 30
        while not all(sender.refusals for sender in senders):
            assert time.monotonic() < deadline, "a sender was never refused"
            time.sleep(0.1)

        throwaway_postgres.start()
        # Each sender's retry is answered, and its load goes on past it.
        wait_for_load(batches=5, timeout=DATABASE_RETRY_AFTER_SECONDS + 50)
        assert requests.get(f"{server.url}/health/", timeout=30).status_code == 200
    except BaseException:
        abandon.set()
        raise
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    server.stop()

    for sender in senders:
        assert sender.failure is None, f"{sender.name}: {sender.failure!r}"
        assert not sender.connection_errors, f"{sender.name}: connections dropped"
        # What a client is told while the database is down: 503, when to retry, and why.
        assert set(sender.answers) == {200, 503}, sender.answers
        for refusal in sender.refusals:
            assert refusal.headers["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
            assert refusal.json()["code"] == "database_unavailable"
    sent = [message_id for sender in senders for message_id in sender.acknowledged]
    assert len(set(sent)) == len(sent)
    rows = throwaway_postgres.count("SELECT count(*) FROM ingestion_event")
    distinct = throwaway_postgres.count("SELECT count(DISTINCT message_id) FROM ingestion_event")
    keys = throwaway_postgres.count("SELECT count(*) FROM ingestion_messagekey")
    # Nothing lost, nothing twice; the refused probe was never stored.
    assert rows == distinct == keys == len(sent)
