"""`make run` as a newcomer gets it: embedded Postgres and broker, web server and worker,
the printed login and write key, events processed, and a clean stop on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_until(process: subprocess.Popen, pattern: str, timeout: float) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    pytest.fail(f"no line matching {pattern!r} within {timeout}s:\n" + "".join(seen[-40:]))


def test_runstack_serves_ingests_processes_and_stops_cleanly(tmp_path):
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update({"CDP_VAR_DIR": str(tmp_path / "var"), "INGEST_SWEEP_SECONDS": "2"})
    command = [sys.executable, "manage.py", "runstack", "--port", str(port), "--web-workers", "1"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        banner = _read_until(process, r"Press Ctrl-C to stop", timeout=120)
        assert f"http://127.0.0.1:{port}/" in banner
        assert "admin / admin" in banner
        key = re.search(r"Write key:\s+(\S+)", banner).group(1)
        base = f"http://127.0.0.1:{port}"
        # On its first start it plays a small demo store through the API.
        seeded = _read_until(process, r"Demo store seeded: [\d,]+ events", timeout=120)
        stored = int(re.search(r"Demo store seeded: ([\d,]+) events", seeded)[1].replace(",", ""))
        assert stored > 2000
        if not re.search(r"celery@\S+ ready", seeded):
            seeded += _read_until(process, r"celery@\S+ ready", timeout=60)
        # Once processed, its customers are scored for RFM at once, not an hour later.
        if not re.search(r"Demo store processed", seeded):
            seeded += _read_until(process, r"Demo store processed", timeout=180)
        scored = int(re.search(r"Demo store processed: (\d+) customers scored", seeded)[1])
        assert scored > 20
        # Then example segments are saved, and the built-in campaigns, activated before the
        # history was played (mail stays on the machine here), fill the Outbox.
        if not re.search(r"Campaigns active", seeded):
            seeded += _read_until(process, r"Campaigns active", timeout=60)
        assert "Example segments saved: “Repeat customers”" in seeded
        assert "“Footwear in the cart, no order”" in seeded
        assert "“Order confirmation”" in seeded
        marketer = requests.Session()
        login = marketer.get(f"{base}/accounts/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)[1]
        marketer.post(
            f"{base}/accounts/login/",
            data={"username": "admin", "password": "admin", "csrfmiddlewaretoken": token},
            headers={"Referer": f"{base}/accounts/login/"},
            timeout=10,
        )
        deadline = time.monotonic() + 60
        outbox = ""
        while time.monotonic() < deadline and "is confirmed" not in outbox:
            time.sleep(1)
            outbox = marketer.get(f"{base}/campaigns/outbox/", timeout=10).text
        assert "is confirmed" in outbox, "no order confirmation reached the Outbox"
        assert "deadlock" not in seeded and "Service Unavailable" not in seeded

        response = requests.post(
            f"{base}/v1/track",
            json={"userId": "u1", "event": "Product Viewed", "properties": {"sku": "S"}},
            auth=(key, ""),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 1

        deadline = time.monotonic() + 120
        health = {}
        while time.monotonic() < deadline:
            health = requests.get(f"{base}/health/", timeout=5).json()
            if health["database"]["backlog"] == 0:
                break
            time.sleep(0.5)
        assert health["status"] == "ok"
        assert health["database"]["backlog"] == 0, "the worker never processed the event"
        assert requests.get(f"{base}/static/css/app.css", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output[-3000:]
    assert "Stopped." in output
    # The access log leaves out HTTP Basic's user name: the write key is printed once, in
    # the banner, however many requests the demo store and this test sent with it.
    assert (banner + seeded + output).count(key) == 1
    # Nothing it started is left: no server answers, no embedded PostgreSQL runs.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/health/", timeout=2)
    postmaster = tmp_path / "var" / "pgdata" / "postmaster.pid"
    assert not postmaster.exists()
