"""The login lockout and the ingest rate limit count every web process together: a real
gunicorn with several worker processes, on the test database, locks a login out at the
5th failure and answers a flood of one write key with 429 and Retry-After, whichever
process answers. Counted in Postgres by default, in Redis when the cache is Redis."""

from __future__ import annotations

import concurrent.futures
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.db import connection

from cdp_project.access.actors import Actor
from cdp_project.devtools.webserver import web_server_command
from ingestion import services
from ingestion.models import Event, Source
from tests.cdp_project.test_runstack import _free_port as free_port

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
PASSWORD = "Right-pass-42"


def _database_url() -> str:
    conf = connection.settings_dict
    host = conf["HOST"] or "127.0.0.1"
    host = quote(host, safe="") if host.startswith("/") else host
    port = f":{conf['PORT']}" if conf["PORT"] else ""
    password = f":{quote(conf['PASSWORD'], safe='')}" if conf["PASSWORD"] else ""
    return f"postgres://{quote(conf['USER'], safe='')}{password}@{host}{port}/{conf['NAME']}"


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the web server did not start:\n" + log.read_text()[-3000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail("the web server did not start within 90 s")


def _redis_url() -> str:
    url = os.environ.get("CDP_TEST_BROKER_URL", "")
    if not url.startswith("redis://"):
        message = "CDP_TEST_BROKER_URL is not a redis:// URL"
        if os.environ.get("CDP_REQUIRE_BROKER", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@dataclass
class Server:
    url: str
    log: Path

    def pids(self) -> list[str]:
        return re.findall(r"^<(\d+)>", self.log.read_text(), flags=re.MULTILINE)


@pytest.fixture(scope="module")
def collected_static() -> None:
    """The pages' assets as `make run` serves them (its manifest under var/staticfiles)."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        check=True,
        timeout=300,
    )


@pytest.fixture(params=["postgres", "redis"])
def server(request, collected_static, transactional_db, tmp_path) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        {
            "DATABASE_URL": _database_url(),
            "INGEST_RATE_LIMIT_EVENTS": "20",
            "INGEST_RATE_LIMIT_WINDOW_SECONDS": "3600",
            "LOGIN_FAILURE_LIMIT": "5",
            "STOREFRONT_ENABLED": "false",
        }
    )
    env.pop("CACHE_URL", None)
    redis_client = None
    if request.param == "redis":
        import redis

        env["CACHE_URL"] = _redis_url()
        redis_client = redis.Redis.from_url(env["CACHE_URL"])
    port = free_port()
    log = tmp_path / "access.log"
    log.touch()
    errors = tmp_path / "error.log"
    # Each process answers a few requests and is replaced by a fresh one: the requests of a
    # test are answered by many processes, some started after the counting began.
    command = [
        *web_server_command(bind=f"127.0.0.1:{port}", workers=WORKERS),
        "--max-requests", "4", "--max-requests-jitter", "0",
        "--access-logfile", str(log),
        "--access-logformat", '%(p)s "%(r)s" %(s)s',
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors.open("w"),
        start_new_session=True,
    )
    try:
        _wait_for_port(port, process, errors)
        yield Server(url=f"http://127.0.0.1:{port}", log=log)
    finally:
        process.terminate()
        process.wait(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM shared_counter")
        if redis_client is not None:
            for key in redis_client.scan_iter("cdp:counter:*"):
                redis_client.delete(key)


def _login(base: str, username: str, password: str, forwarded_for: str = "") -> str:
    with requests.Session() as session:
        if forwarded_for:
            session.headers["X-Forwarded-For"] = forwarded_for
        page = session.get(f"{base}/accounts/login/", timeout=60)
        assert page.status_code == 200, page.text[:2000]
        response = session.post(
            f"{base}/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": f"{base}/accounts/login/"},
            allow_redirects=False,
            timeout=60,
        )
    if response.status_code == 302:
        return "in"
    if "Too many failed logins" in response.text:
        return "locked"
    assert "correct username and password" in response.text, response.text[:500]
    return "wrong"


def test_a_login_is_locked_at_the_fifth_failure_whichever_process_answers(
    server, django_user_model
):
    username = f"marketer-{uuid.uuid4().hex[:8]}"
    django_user_model.objects.create_user(username, password=PASSWORD, is_staff=True)
    # Five failures at once reach several processes; a spoofed X-Forwarded-For on some
    # of them does not make a new address.
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        answers = list(
            pool.map(lambda n: _login(server.url, username, "wrong", f"203.0.113.{n}"), range(5))
        )
    assert answers == ["wrong"] * 5
    for number in range(WORKERS * 2):
        assert _login(server.url, username, PASSWORD, f"198.51.100.{number}") == "locked"
    assert len(set(server.pids())) >= 4


def test_a_flood_of_one_write_key_gets_429_with_retry_after(server):
    source = services.source_create(
        actor=Actor.system("test"), name="Flood", kind=Source.Kind.SERVER
    )
    key = source.write_keys.get().key

    def track(number: int) -> requests.Response:
        return requests.post(
            f"{server.url}/v1/track",
            json={"type": "track", "event": "E", "userId": "u", "messageId": f"m-{number}"},
            auth=(key, ""),
            timeout=60,
        )

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(track, range(45)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 20 + [429] * 25
    for refused in (r for r in responses if r.status_code == 429):
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["code"] == "rate_limited"
    assert Event.objects.filter(source=source).count() == 20
    assert len(set(server.pids())) >= 4
