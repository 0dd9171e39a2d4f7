"""Throwaway services for the fault tests: a Redis on a spare loopback port, a second
embedded PostgreSQL in a temporary folder and the production web server (gunicorn, as
`make run` starts it), each started here, stopped, killed or started again by the test, and
stopped at the end. The machine's shared services are never touched."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.db import connection

from cdp_project.devtools.embedded import FILESYSTEM_BROKER_URL, filesystem_broker_options
from cdp_project.devtools.webserver import web_server_command
from tests.cdp_project.test_runstack import _free_port as free_port
from tests.conftest import _use_broker

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def wait_for_port(port: int, *, up: bool, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    pytest.fail(f"port {port} did not go {'up' if up else 'down'} within {timeout}s")


@dataclass
class ThrowawayRedis:
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, up=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        wait_for_port(self.port, up=False)


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    if not shutil.which("redis-server"):
        message = "redis-server not found (apt-get install redis-server)"
        if os.environ.get("CDP_REQUIRE_BROKER", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    redis = ThrowawayRedis(port=free_port())
    redis.start()
    yield redis
    redis.stop()


def test_database_url() -> str:
    """The URL of the database this test runs on, for a process the test starts."""
    conf = connection.settings_dict
    host = conf["HOST"] or "127.0.0.1"
    host = quote(host, safe="") if host.startswith("/") else host
    port = f":{conf['PORT']}" if conf["PORT"] else ""
    password = f":{quote(conf['PASSWORD'], safe='')}" if conf["PASSWORD"] else ""
    return f"postgres://{quote(conf['USER'], safe='')}{password}@{host}{port}/{conf['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


@dataclass
class Worker:
    """A Celery worker in a process of its own, which a test can kill."""

    env: dict[str, str]
    log: Path
    beat: bool = False
    process: subprocess.Popen | None = None
    started: list[subprocess.Popen] = field(default_factory=list)

    def start(self) -> None:
        handle = self.log.open("a")
        beat = ["--beat", "--schedule", str(self.log.with_suffix(".beat"))] if self.beat else []
        self.process = subprocess.Popen(
            [str(BIN / "celery"), "-A", "cdp_project", "worker", "--pool", "solo",
             "--without-gossip", "--without-mingle", "--loglevel", "INFO", *beat],
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            # Its own process group: killing it kills the beat it runs too.
            start_new_session=True,
        )  # fmt: skip
        self.started.append(self.process)
        deadline = time.monotonic() + 60
        while "ready." not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the worker did not start:\n" + self.log.read_text()[-3000:])
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no acknowledgement, as when a machine dies."""
        assert self.process is not None
        _kill_group(self.process)

    def stop_all(self) -> None:
        for process in self.started:
            _kill_group(process)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.fixture
def worker_process(tmp_path, transactional_db) -> Iterator[callable]:
    workers: list[Worker] = []

    def make(broker_url: str, *, beat: bool = False, **env: str) -> Worker:
        worker = Worker(
            env={
                **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
                "DATABASE_URL": test_database_url(),
                "CELERY_BROKER_URL": broker_url,
                "CDP_VAR_DIR": str(tmp_path / "var"),
                "PYTHONUNBUFFERED": "1",
                **env,
            },
            log=tmp_path / f"worker-{len(workers)}.log",
            beat=beat,
        )
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop_all()


# A gunicorn hook, loaded with `--config`, that writes the id of the worker process taking
# each request to a file named after the request's `X-Fault-Tag` header, so that a test can
# kill the very process handling a request it sent.
_HANDLER_HOOK = """
import os


def pre_request(worker, req):
    tag = dict(req.headers).get("X-FAULT-TAG")
    if tag and tag.isalnum():
        path = os.path.join(os.environ["CDP_FAULT_HANDLERS"], tag)
        with open(path, "w") as handle:
            handle.write(str(worker.pid))
"""


@dataclass
class WebServer:
    """gunicorn serving the project with the command line `make run` uses, on a spare port."""

    env: dict[str, str]
    folder: Path
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        hook = self.folder / "gunicorn_hooks.py"
        hook.write_text(_HANDLER_HOOK)
        (self.folder / "handlers").mkdir(exist_ok=True)
        command = web_server_command(bind=f"127.0.0.1:{self.port}", workers=self.workers)
        self.process = subprocess.Popen(
            [*command, "--config", str(hook)],
            cwd=ROOT,
            env={**self.env, "CDP_FAULT_HANDLERS": str(self.folder / "handlers")},
            stdout=(self.folder / "web.log").open("a"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.url}/health/", timeout=60).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the web server did not start:\n" + self.log()[-3000:])
            time.sleep(0.2)

    def handler_of(self, tag: str) -> int:
        """The id of the worker process that took the request sent with `X-Fault-Tag: tag`."""
        return int((self.folder / "handlers" / tag).read_text())

    def log(self) -> str:
        path = self.folder / "web.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def web_server(tmp_path) -> Iterator[callable]:
    """Makes `WebServer`s on a database the caller names; stops them at the end."""
    servers: list[WebServer] = []

    def make(database_url: str, *, workers: int = 2, **env: str) -> WebServer:
        folder = tmp_path / f"web-{len(servers)}"
        folder.mkdir()
        server = WebServer(
            env={
                **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": "memory://",
                "CDP_VAR_DIR": str(tmp_path / "var"),
                "PYTHONUNBUFFERED": "1",
                **env,
            },
            folder=folder,
            workers=workers,
        )
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


class Stack:
    """Beat and worker processes on a filesystem broker under `var`."""

    def __init__(self, var: Path, period: int) -> None:
        self.var = var
        var.mkdir(parents=True, exist_ok=True)
        self.env = {
            **{k: v for k, v in os.environ.items()
               if k not in ("DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL")},
            "DATABASE_URL": test_database_url(),
            "CDP_VAR_DIR": str(var),
            "HEARTBEAT_SECONDS": str(period),
            "PYTHONUNBUFFERED": "1",
        }  # fmt: skip
        self.processes: list[subprocess.Popen] = []

    def start(self, *args: str, log: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [str(BIN / "celery"), "-A", "cdp_project", *args, "--loglevel", "INFO"],
            cwd=ROOT,
            env=self.env,
            stdout=(self.var / log).open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def beat(self) -> subprocess.Popen:
        return self.start("beat", log="beat.log")

    def worker(self) -> subprocess.Popen:
        return self.start("worker", "--pool", "solo", "--without-gossip", "--without-mingle",
                          log="worker.log")  # fmt: skip

    def log(self, name: str) -> str:
        path = self.var / name
        return path.read_text()[-3000:] if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def stack(tmp_path, transactional_db, settings) -> Iterator[Stack]:
    """Beat and workers started by the test on the embedded filesystem broker in a
    temporary folder, which this process publishes to as well; heartbeats every second."""
    settings.HEARTBEAT_SECONDS = 1
    var = tmp_path / "var"
    _use_broker(FILESYSTEM_BROKER_URL, filesystem_broker_options(var))
    stack = Stack(var, period=1)
    yield stack
    stack.stop()
    _use_broker("memory://", {})
