"""Chunked request bodies (`Transfer-Encoding: chunked`, no `Content-Length`), as some HTTP
clients send a body they stream, read by the web server `make run` serves with."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from cdp_project.devtools.webserver import web_server_command
from ingestion.models import Event
from tests.cdp_project.test_runstack import ROOT, _free_port
from tests.conftest import basic_auth
from tests.faults.conftest import test_database_url


@pytest.fixture
def gunicorn(transactional_db, tmp_path) -> Iterator[int]:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": "memory://",
        "CDP_VAR_DIR": str(tmp_path / "var"),
    }
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        web_server_command(bind=f"127.0.0.1:{port}", workers=1),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health/")
                connection.getresponse().read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        "gunicorn did not start:\n" + (tmp_path / "gunicorn.log").read_text()
                    )
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _post_chunked(port: int, parts: list[bytes], headers: dict[str, str]) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    # An iterator and no length: http.client sends it chunked, one chunk per part.
    connection.request("POST", "/v1/batch", body=iter(parts), headers=headers, encode_chunked=True)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def _body(*users: str) -> bytes:
    return json.dumps(
        {"batch": [{"type": "track", "event": "Signed Up", "userId": user} for user in users]}
    ).encode()


def test_a_chunked_body_is_read_under_the_web_server(gunicorn, write_key):
    body = _body("u1", "u2")
    parts = [body[:17], body[17:40], body[40:]]
    status, answer = _post_chunked(
        gunicorn,
        parts,
        {"Authorization": basic_auth(write_key.key), "Content-Type": "application/json"},
    )
    assert status == 200, answer
    assert answer["accepted"] == 2
    assert sorted(Event.objects.values_list("user_id", flat=True)) == ["u1", "u2"]


def test_a_chunked_gzip_body_is_read_and_decompressed(gunicorn, write_key):
    body = gzip.compress(_body("u3"))
    headers = {"Authorization": basic_auth(write_key.key), "Content-Encoding": "gzip"}
    status, answer = _post_chunked(gunicorn, [body[:10], body[10:]], headers)
    assert status == 200, answer
    assert list(Event.objects.values_list("user_id", flat=True)) == ["u3"]


def test_a_chunked_body_past_the_limit_is_refused(gunicorn, write_key, settings):
    part = b" " * (64 * 1024)
    parts = [b'{"batch": [', *[part] * 10, b"]}"]  # 640 KB, past the 500 KB limit
    status, answer = _post_chunked(gunicorn, parts, {"Authorization": basic_auth(write_key.key)})
    assert status == 400
    assert answer["code"] == "request_too_large"
    assert Event.objects.count() == 0
