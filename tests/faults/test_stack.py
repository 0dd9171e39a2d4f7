"""`make run` under faults, on real processes: the stack `manage.py runstack` starts (gunicorn,
a Celery worker, beat, the embedded PostgreSQL and broker under a temporary var/), with
clients posting batches the whole time.

- Each part killed with SIGKILL in turn (a gunicorn worker, the gunicorn master, a Celery pool
  process, the Celery main process, beat): the stack stays up, every acknowledged event is
  stored once and processed, and a campaign reminder that falls due after the kills is sent.
- Every process of the stack killed at once, poisoned files left in the broker's queue, and
  a new start: the same events, none twice, none left unprocessed. Then beat killed five
  times within a minute: the stack says so and stops, its database too.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
import requests

from tests.cdp_project.test_runstack import _free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Short periods, so that what the sweep and the campaign tick do is seen within seconds.
STACK_ENV = {
    "CDP_DEMO_STORE": "0",
    "INGEST_SWEEP_SECONDS": "2",
    "INGEST_SWEEP_GRACE_SECONDS": "4",
    "CAMPAIGNS_TICK_SECONDS": "2",
    # /health/ says degraded once a heartbeat is older than twice this.
    "HEARTBEAT_SECONDS": "2",
}


def wait_until(check, *, timeout: float, what: str, every: float = 0.3):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException, psycopg.OperationalError):
            last = check()
            if last:
                return last
        time.sleep(every)
    pytest.fail(f"{what}: not within {timeout}s (last: {last!r})")


class Stack:
    """One `runstack` on a var/ folder of its own; its log goes to a file (a pipe nobody
    reads would fill and stall it)."""

    def __init__(self, var_dir: Path, port: int) -> None:
        self.var_dir = var_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = var_dir.parent / "runstack.log"
        self.process: subprocess.Popen | None = None
        self.key = ""

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
        }
        return {**env, **STACK_ENV, "CDP_VAR_DIR": str(self.var_dir)}

    def command(self) -> list[str]:
        return [sys.executable, "manage.py", "runstack", "--port", str(self.port),
                "--web-workers", "2"]  # fmt: skip

    def start(self) -> None:
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        handle = self.log.open("a")
        self.process = subprocess.Popen(
            self.command(), cwd=ROOT, env=self.env(), stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        banner = self.wait_for_log(r"Press Ctrl-C to stop", timeout=120)
        self.key = re.search(r"Write key:\s+(\S+)", banner)[1]
        self.wait_for_log(r"celery@\S+ ready", timeout=60)
        self.wait_healthy()

    def text(self) -> str:
        return self.log.read_text(errors="replace")[self.offset :]

    def wait_for_log(self, pattern: str, *, timeout: float) -> str:
        def seen() -> str | None:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail("the stack stopped:\n" + self.text()[-4000:])
            text = self.text()
            return text if re.search(pattern, text) else None

        return wait_until(seen, timeout=timeout, what=f"{pattern!r} in the stack's log")

    def health(self) -> dict:
        return requests.get(f"{self.url}/health/", timeout=5).json()

    def wait_healthy(self, timeout: float = 60) -> dict:
        seen: list[dict] = []

        def ok() -> dict | None:
            seen[:] = [self.health()]
            return seen[0] if seen[0]["status"] == "ok" else None

        try:
            return wait_until(ok, timeout=timeout, what="/health/ ok")
        except pytest.fail.Exception:
            pytest.fail(f"/health/ not ok within {timeout}s: {seen}\n{self.text()[-3000:]}")

    # -- its processes ----------------------------------------------------------------------
    def parts(self) -> dict[str, list[psutil.Process]]:
        assert self.process is not None
        parts: dict[str, list[psutil.Process]] = {
            "web": [], "web workers": [], "worker": [], "pool": [], "beat": [],
        }  # fmt: skip
        for child in psutil.Process(self.process.pid).children():
            try:  # a process that just died is skipped: it is no part any more
                line = " ".join(child.cmdline())
                if "gunicorn" in line:
                    parts["web"].append(child)
                    parts["web workers"].extend(child.children())
                elif " worker" in line:
                    parts["worker"].append(child)
                    parts["pool"].extend(child.children())
                elif " beat" in line:
                    parts["beat"].append(child)
            except psutil.Error:
                continue
        return parts

    def part(self, name: str) -> psutil.Process:
        return wait_until(lambda: self.parts()[name][:1], timeout=60, what=f"a {name}")[0]

    def postgres(self) -> list[psutil.Process]:
        pid_file = self.var_dir / "pgdata" / "postmaster.pid"
        if not pid_file.exists():
            return []
        with contextlib.suppress(psutil.NoSuchProcess, ValueError):
            postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
            return [postmaster, *postmaster.children()]
        return []

    def everything(self) -> list[psutil.Process]:
        assert self.process is not None
        with contextlib.suppress(psutil.NoSuchProcess):
            runstack = psutil.Process(self.process.pid)
            return [runstack, *runstack.children(recursive=True), *self.postgres()]
        return self.postgres()

    def db(self) -> psycopg.Connection:
        socket_dir = (self.var_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[4]
        return psycopg.connect(host=socket_dir, dbname="cdp", user="postgres", autocommit=True)

    def stop(self) -> str:
        """Ctrl-C, and what it printed from its start."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=90)
        return self.text()

    def kill_everything(self) -> None:
        """SIGKILL to every process at once, as when the machine loses power: frozen first,
        so none of them gets to react to another's death."""
        processes = self.everything()
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.suspend()
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(processes, timeout=10)
        assert self.process is not None
        self.process.wait(timeout=10)


class Load:
    """Clients posting batches of 20 events, each batch retried until acknowledged, as the
    SDKs do. `acknowledged` holds the messageIds of every 2xx."""

    def __init__(self, stack: Stack, *, clients: int = 4) -> None:
        self.stack = stack
        self.acknowledged: set[str] = set()
        self.failures = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.counter = itertools.count()
        self.threads = [threading.Thread(target=self._client, args=(n,)) for n in range(clients)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _client(self, n: int) -> None:
        session = requests.Session()
        while not self.stopping.is_set():
            batch_no = next(self.counter)
            batch = [
                {"type": "track", "event": "Product Viewed", "messageId": f"load-{batch_no}-{i}",
                 "userId": f"shopper-{(batch_no + i) % 40}", "properties": {"sku": f"SKU-{i}"}}
                for i in range(20)
            ]  # fmt: skip
            while not self.stopping.is_set():
                try:
                    response = session.post(
                        f"{self.stack.url}/v1/batch",
                        json={"batch": batch},
                        auth=(self.stack.key, ""),
                        timeout=15,
                    )
                except requests.RequestException:
                    response = None
                if response is not None and response.status_code == 200:
                    with self.lock:
                        self.acknowledged.update(event["messageId"] for event in batch)
                    break
                self.failures += 1
                time.sleep(0.2)
            time.sleep(0.05)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        wait_until(lambda: len(self.acknowledged) >= count, timeout=timeout, what="acknowledged")


def stored(stack: Stack) -> tuple[dict[str, int], int]:
    """Each load messageId with its count of stored events, and how many are unprocessed."""
    with stack.db() as conn:
        counts = dict(
            conn.execute(
                "SELECT message_id, count(*) FROM ingestion_event "
                "WHERE message_id LIKE 'load-%' GROUP BY message_id"
            ).fetchall()
        )
        unprocessed = conn.execute(
            "SELECT count(*) FROM ingestion_event WHERE processed_at IS NULL"
        ).fetchone()[0]
    return counts, unprocessed


def assert_stored_once_and_processed(stack: Stack, acknowledged: set[str], *, within: float):
    counts: dict[str, int] = {}

    def settled() -> bool:
        nonlocal counts
        counts, unprocessed = stored(stack)
        return not (acknowledged - counts.keys()) and unprocessed == 0

    wait_until(settled, timeout=within, what="every acknowledged event stored and processed")
    assert not acknowledged - counts.keys(), "acknowledged events are missing"
    assert {message_id: n for message_id, n in counts.items() if n != 1} == {}


# The parts whose heartbeat /health/ reports.
HEARTBEATS = {"worker": "worker", "beat": "scheduler"}


@pytest.fixture
def stack() -> Iterator[Stack]:
    # Not under pytest's temporary folder: run as root, pgserver runs PostgreSQL as its own
    # user and opens the folders above the data to it once, at its first start; another
    # pytest session closes pytest's folder to its owner again, and the restart then fails.
    folder = Path(tempfile.mkdtemp(prefix="cdp-stack-"))
    stack = Stack(folder / "var", _free_port())
    yield stack
    # Whatever a failed test left: nothing of the stack outlives it.
    if stack.process is not None:
        for process in stack.everything():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
    shutil.rmtree(folder, ignore_errors=True)


def test_each_part_killed_in_turn_under_load_the_stack_stays_up_and_loses_nothing(stack):
    stack.start()
    with stack.db() as conn:
        # The abandoned-cart reminder, sent 8 s after the cart is left.
        conn.execute(
            "UPDATE campaigns_campaign SET status = 'active', wait_seconds = 8 "
            "WHERE kind = 'abandoned_cart'"
        )

    # A second `make run` on the same data finds this one, says where, and starts nothing.
    second = subprocess.run(
        [*stack.command()[:-4], "--port", str(_free_port())],
        cwd=ROOT, env=stack.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode != 0
    assert f"CDP is running at {stack.url}/ (process {stack.process.pid})" in second.stderr
    assert len(stack.parts()["web"]) == 1 and len(stack.parts()["worker"]) == 1

    kills: list[tuple[str, float]] = []
    with Load(stack) as load:
        load.wait_for(400)
        for name in ("web workers", "web", "pool", "worker", "beat"):
            victim = stack.part(name)
            if name == "beat":
                # A cart left now falls due after beat is killed: only a restarted beat
                # sends its reminder.
                cart = [
                    {"type": "identify", "userId": "late-cart", "messageId": "cart-1",
                     "traits": {"email": "late-cart@example.com", "email_consent": True}},
                    {"type": "track", "event": "Product Added", "userId": "late-cart",
                     "messageId": "cart-2",
                     "properties": {"sku": "SKU-9", "name": "Boots", "price": 80}},
                ]  # fmt: skip
                response = requests.post(
                    f"{stack.url}/v1/batch", json={"batch": cart}, auth=(stack.key, ""),
                    timeout=15,
                )  # fmt: skip
                assert response.status_code == 200, response.text
            before = len(load.acknowledged)
            if name in HEARTBEATS:
                # Hung first, then killed: /health/ says which part is down meanwhile.
                victim.suspend()
                health = wait_until(
                    lambda: (health := stack.health())["status"] == "degraded" and health,
                    timeout=30,
                    what=f"/health/ degraded with the {name} stopped",
                )
                part = HEARTBEATS[name]
                assert health[part]["ok"] is False
                assert any(reason.startswith(f"the {part}") or part in reason
                           for reason in health["reasons"]), health  # fmt: skip
            victim.kill()
            kills.append((name, time.time()))
            # The part comes back and the stack answers; clients get through again.
            wait_until(
                lambda name=name, victim=victim: stack.part(name).pid != victim.pid,
                timeout=60,
                what=f"a new {name}",
            )
            stack.wait_healthy()
            load.wait_for(before + 100)
        last_kill = time.time()

    assert stack.process.poll() is None, "the stack stopped"
    log = stack.text()
    assert "The web server was killed by SIGKILL; restarting it in 1 s" in log
    assert "The worker was killed by SIGKILL; restarting it in 1 s" in log
    assert "The scheduler (beat) was killed by SIGKILL; restarting it in 1 s" in log
    assert len(load.acknowledged) > 1000
    assert_stored_once_and_processed(stack, load.acknowledged, within=60)

    def reminder_sent():
        with stack.db() as conn:
            return conn.execute(
                "SELECT e.due_at, m.status FROM campaigns_enrollment e "
                "JOIN campaigns_campaign c ON c.id = e.campaign_id "
                "JOIN campaigns_message m ON m.enrollment_id = e.id "
                "WHERE c.kind = 'abandoned_cart' AND m.status = 'sent'"
            ).fetchall()

    [(due_at, _status)] = wait_until(reminder_sent, timeout=60, what="the cart reminder sent")
    assert due_at.timestamp() > kills[-1][1], "the reminder fell due before beat was killed"
    assert time.time() - last_kill < 120

    # Ctrl-C: everything it started stops, the embedded PostgreSQL too.
    processes = stack.everything()
    output = stack.stop()
    assert stack.process.returncode == 0, output[-3000:]
    assert "Stopped." in output
    _gone, alive = psutil.wait_procs(processes, timeout=10)
    assert alive == [], f"left running after Ctrl-C: {alive}"
    assert not (stack.var_dir / "pgdata" / "postmaster.pid").exists()


def test_every_process_killed_at_once_and_a_poisoned_queue_the_next_start_loses_nothing(stack):
    stack.start()
    with Load(stack) as load:
        load.wait_for(600)
        stack.kill_everything()
        acknowledged = set(load.acknowledged)
    assert stack.everything() == []
    # What a producer killed mid-write leaves in the broker's queue: an empty file and a
    # truncated message.
    queue = stack.var_dir / "broker" / "queue"
    (queue / "1_poison-empty.celery.msg").write_bytes(b"")
    (queue / "2_poison-truncated.celery.msg").write_bytes(b'{"body": "eyJhIjog", "content-')

    stack.start()
    assert_stored_once_and_processed(stack, acknowledged, within=60)
    # The poisoned files were set aside, not handed to the worker.
    assert stack.health()["unreadable_messages"] == 2
    assert not list(queue.glob("*poison*"))
    # Still serving and processing after the poisoned messages were read.
    with Load(stack, clients=2) as load:
        load.wait_for(100)
    assert_stored_once_and_processed(stack, load.acknowledged | acknowledged, within=60)
    assert "restarting it in" not in stack.text(), "a process died after the restart"

    # A process that keeps dying stops the stack: beat killed five times within a minute.
    processes = stack.everything()
    for _ in range(5):
        beat = stack.part("beat")
        beat.kill()
        wait_until(
            lambda beat=beat: (
                stack.process.poll() is not None or stack.parts()["beat"][:1] not in ([], [beat])
            ),
            timeout=60,
            what="beat restarted",
        )
    stack.process.wait(timeout=60)
    output = stack.text()
    assert stack.process.returncode == 1
    assert (
        "The scheduler (beat) was killed by SIGKILL; it stopped 5 times within 60 s, "
        "so the stack is stopping." in output
    )
    assert "Stopped." in output
    _gone, alive = psutil.wait_procs(processes, timeout=10)
    assert alive == [], f"left running after giving up: {alive}"
    assert not (stack.var_dir / "pgdata" / "postmaster.pid").exists()
