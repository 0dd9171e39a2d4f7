"""The database goes away under a running server and comes back: the API answers 503 with
Retry-After meanwhile (so SDKs retry), and recovers by itself, losing nothing it had
acknowledged. On a second embedded PostgreSQL of the test's own, in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import requests

from tests.faults.conftest import BIN, ROOT, free_port


def post(port: int, n: int) -> requests.Response:
    return requests.post(
        f"http://127.0.0.1:{port}/v1/batch",
        json={"batch": [{"type": "track", "event": "Beat", "userId": "u", "messageId": f"m{n}"}]},
        auth=(KEY, ""),
        timeout=15,
    )


KEY = "outage-test-key"


@pytest.fixture
def throwaway_postgres(tmp_path):
    import pgserver
    from pgserver._commands import pg_ctl

    pgdata = tmp_path / "pgdata"
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


def test_the_api_answers_503_while_the_database_is_down_and_recovers_by_itself(
    throwaway_postgres, tmp_path: Path
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
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "cdp_project.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "2", "--no-control-socket"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                first = post(port, 1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert first.status_code == 200 and first.json()["accepted"] == 1

        throwaway_postgres.stop()
        down = post(port, 2)
        assert down.status_code == 503
        assert down.headers["Retry-After"] == "10"
        assert down.json()["code"] == "database_unavailable"
        assert requests.get(f"http://127.0.0.1:{port}/health/", timeout=15).status_code == 503

        throwaway_postgres.start()
        deadline = time.monotonic() + 20
        while (again := post(port, 2)).status_code != 200:
            assert again.status_code == 503, again.text
            assert time.monotonic() < deadline, "the API did not recover"
            time.sleep(0.5)
        assert again.json()["accepted"] == 1
        assert post(port, 3).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
    # What was acknowledged is stored, once; the refused request's retry was stored.
    assert throwaway_postgres.count("SELECT count(*) FROM ingestion_event") == 3
