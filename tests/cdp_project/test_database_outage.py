"""With the database unreachable, the API tells SDKs to retry instead of failing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.cdp_project.test_runstack import _free_port

ROOT = Path(__file__).resolve().parents[2]


def test_unreachable_database_answers_503_with_retry_after(tmp_path):
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        # Nothing listens on port 1: every connection attempt is refused at once.
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/cdp",
        "CELERY_BROKER_URL": "memory://",
        "CDP_VAR_DIR": str(tmp_path / "var"),
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [
            str(gunicorn),
            "cdp_project.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--no-control-socket",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline:
            try:
                response = requests.post(
                    f"http://127.0.0.1:{port}/v1/batch",
                    json={"batch": [{"type": "track", "userId": "u", "event": "E"}]},
                    auth=("any-key", ""),
                    timeout=10,
                )
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert response is not None, "the server did not start"
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "10"
        assert response.json()["code"] == "database_unavailable"

        health = requests.get(f"http://127.0.0.1:{port}/health/", timeout=10)
        assert health.status_code == 503
        assert health.json()["status"] == "down"
    finally:
        server.terminate()
        server.wait(timeout=20)
