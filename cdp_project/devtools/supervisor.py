"""The process supervisor of `make run`: it starts the web server, the worker and beat, restarts
whichever dies, and stops them all on Ctrl-C or SIGTERM.

Written here rather than on honcho or circus (docs/reliability.md says why): honcho stops every
process when one exits (Foreman's rule, the behaviour this replaces), and circus respawns at
once with no growing wait, stops only the failing watcher when it flaps, runs as a daemon of
its own over ZeroMQ, and leaves its processes running when it is killed.

How its processes die with it:
- each child leads a process group of its own, so stopping a child (or cleaning up after one
  that died) reaches what it forked: gunicorn's workers, Celery's pool processes;
- each child asks Linux for a parent-death signal (prctl PR_SET_PDEATHSIG) before it execs, so
  a supervisor killed with SIGKILL still takes its children down; they stop their own children
  as they do on any SIGTERM (gunicorn's workers also exit when their master is gone, and
  Celery's pool processes when their pipe to the main process closes).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_prctl = _libc.prctl


@dataclass(frozen=True)
class Program:
    """One process of the stack: a name for the log, and the command that runs it."""

    name: str
    command: list[str]


@dataclass
class Child:
    program: Program
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    # When this child last exited on its own, within the failure window.
    failures: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    restarts: int = 0


def describe_exit(returncode: int) -> str:
    """`was killed by SIGKILL` or `exited with status 1`."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


class GaveUp(Exception):
    """A child kept failing: the stack stops, and says which and why."""


class Supervisor:
    """Runs `programs` until `stop()` (a signal) or until one of them fails `max_failures`
    times within `window` seconds. A child that exits is restarted after `backoff` seconds,
    doubled for each earlier failure still within the window, at most `max_backoff`."""

    def __init__(
        self,
        programs: list[Program],
        *,
        env: dict[str, str],
        cwd: Path | str,
        say: Callable[[str], None],
        max_failures: int = 5,
        window: float = 60.0,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        stop_timeout: float = 15.0,
        stdout: IO[Any] | int | None = None,
    ) -> None:
        self.children = [Child(program) for program in programs]
        self.env = env
        self.cwd = cwd
        self.say = say
        self.max_failures = max_failures
        self.window = window
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stop_timeout = stop_timeout
        self.stdout = stdout
        self.stopping = False

    # -- running ----------------------------------------------------------------------------
    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def stop(self, *_: Any) -> None:
        """Ask the loop to stop; safe to call from a signal handler."""
        self.stopping = True

    def run(self, *, poll: float = 0.2) -> None:
        """Watch the children until `stop()`; raises GaveUp when one keeps failing. Must run in
        the thread that started them (the parent-death signal follows that thread)."""
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                process = child.process
                if process is not None and process.poll() is not None:
                    self._exited(child, now)
                elif child.restart_at is not None and now >= child.restart_at:
                    child.restart_at = None
                    child.restarts += 1
                    self.say(f"Restarting the {child.program.name} (restart {child.restarts}).")
                    self._spawn(child)
            time.sleep(poll)

    def _exited(self, child: Child, now: float) -> None:
        assert child.process is not None
        how = describe_exit(child.process.returncode)
        # What it forked and left behind (a gunicorn worker, a Celery pool process) goes with
        # it, so the restarted one finds its port and queue free.
        _kill_group(child.process.pid)
        child.process = None
        child.failures.append(now)
        while child.failures and now - child.failures[0] > self.window:
            child.failures.popleft()
        count = len(child.failures)
        if count >= self.max_failures:
            raise GaveUp(
                f"The {child.program.name} {how}; it stopped {count} times within "
                f"{self.window:.0f} s, so the stack is stopping. Its log above says why."
            )
        delay = min(self.max_backoff, self.backoff * 2 ** (count - 1))
        child.restart_at = now + delay
        self.say(
            f"The {child.program.name} {how}; restarting it in {delay:g} s "
            f"({count} of {self.max_failures} stops allowed within {self.window:.0f} s)."
        )

    def _spawn(self, child: Child) -> None:
        parent = os.getpid()

        def in_child() -> None:
            # Between fork and exec: only the prctl bound before the fork, no imports.
            _prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            if os.getppid() != parent:  # the supervisor died before the line above
                os._exit(1)

        child.process = subprocess.Popen(  # noqa: S603 - our own commands
            child.program.command,
            env=self.env,
            cwd=self.cwd,
            stdout=self.stdout,
            stderr=subprocess.STDOUT if self.stdout is not None else None,
            start_new_session=True,
            preexec_fn=in_child,  # no lock is taken between fork and exec
        )
        child.started_at = time.monotonic()

    # -- stopping ---------------------------------------------------------------------------
    def shutdown(self) -> None:
        """SIGTERM to each child (gunicorn stops gracefully, Celery warmly), then SIGKILL to
        each process group that is still there after `stop_timeout`."""
        running = [child.process for child in self.children if child.process is not None]
        for process in running:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(process.pid)
                process.wait()
            _kill_group(process.pid)  # a straggler its leader left behind
        for child in self.children:
            child.process = None

    def pids(self) -> dict[str, int]:
        return {
            child.program.name: child.process.pid
            for child in self.children
            if child.process is not None and child.process.poll() is None
        }


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# -- one stack per var/ ---------------------------------------------------------------------
class StackRunning(Exception):
    """Another `make run` holds this var/ folder."""

    def __init__(self, url: str, pid: int | None) -> None:
        super().__init__(url)
        self.url = url
        self.pid = pid


class StackLock:
    """`var/runstack.pid`, locked (flock) for as long as the stack runs. The kernel drops the
    lock when the process dies however it dies, so a stale file never blocks a start; the
    file says the pid and the URL of the stack that holds it."""

    def __init__(self, var_dir: Path) -> None:
        self.path = var_dir / "runstack.pid"
        self._file: IO[str] | None = None

    def acquire(self, *, url: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                held = json.loads(handle.read() or "{}")
            except ValueError:
                held = {}
            handle.close()
            raise StackRunning(held.get("url", "(unknown)"), held.get("pid")) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "url": url}))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._file.close()
            self._file = None


def stack_answers(url: str, *, timeout: float = 2.0) -> bool:
    """Whether a stack answers at `url` (its `/health/`, whatever its state)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health/", timeout=timeout):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True  # it answered: 503 while its database is down
    except (OSError, ValueError):
        return False
