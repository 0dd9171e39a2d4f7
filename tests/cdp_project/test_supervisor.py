"""The supervisor `make run` runs its processes under (cdp_project/devtools/supervisor.py), on real
processes: restarts with a growing wait, gives up on a process that keeps failing, takes its
processes down when it is killed, and lets one stack run per data folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from cdp_project.devtools.supervisor import GaveUp, Program, StackLock, StackRunning, Supervisor

ROOT = Path(__file__).resolve().parents[2]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.1)
    return False


def test_a_process_that_dies_is_restarted_after_a_doubling_wait_and_the_fifth_stop_ends_it(
    tmp_path,
):
    starts = tmp_path / "starts"
    command = [sys.executable, "-c", f"open({str(starts)!r}, 'a').write('x'); exit(3)"]
    said: list[str] = []
    supervisor = Supervisor(
        [
            Program("flaky", command),
            Program("steady", [sys.executable, "-c", "import time; time.sleep(60)"]),
        ],
        env=dict(os.environ),
        cwd=tmp_path,
        say=said.append,
        backoff=0.2,
    )
    supervisor.start()
    steady = supervisor.pids()["steady"]
    began = time.monotonic()
    try:
        with pytest.raises(GaveUp) as failure:
            supervisor.run(poll=0.05)
    finally:
        supervisor.shutdown()
    took = time.monotonic() - began
    assert "The flaky exited with status 3" in str(failure.value)
    assert "5 times within 60 s" in str(failure.value)
    assert starts.read_text() == "xxxxx"
    waits = [line for line in said if "restarting it in" in line]
    assert [w.split("restarting it in ")[1].split(" s")[0] for w in waits] == [
        "0.2",
        "0.4",
        "0.8",
        "1.6",
    ]
    assert "The flaky exited with status 3" in waits[0]
    assert took >= 0.2 + 0.4 + 0.8 + 1.6
    # The healthy one ran throughout, and is stopped with the rest.
    assert not any("steady" in line for line in said)
    assert _wait_gone(steady)


def test_stops_older_than_the_window_do_not_count(tmp_path):
    said: list[str] = []
    supervisor = Supervisor(
        [Program("flaky", [sys.executable, "-c", "exit(1)"])],
        env=dict(os.environ),
        cwd=tmp_path,
        say=said.append,
        backoff=0.1,
        window=0.5,
    )
    # Stops every few tenths of a second for four seconds, never five within half a second.
    threading.Timer(4, supervisor.stop).start()
    supervisor.start()
    try:
        supervisor.run(poll=0.05)  # returns on stop(): it never gave up
    finally:
        supervisor.shutdown()
    assert len([line for line in said if "restarting it in" in line]) >= 6


SUPERVISED = textwrap.dedent(
    """
    import os, sys, time
    from cdp_project.devtools.supervisor import Program, Supervisor

    # The child forks a grandchild and waits: both must die with the supervisor.
    child = ("import os, signal, sys, time\\n"
             "pid = os.fork()\\n"
             "if pid == 0:\\n"
             "    time.sleep(120); sys.exit()\\n"
             "signal.signal(signal.SIGTERM, lambda *a: (os.kill(pid, 9), sys.exit(0)))\\n"
             "print(os.getpid(), pid, flush=True)\\n"
             "time.sleep(120)\\n")
    supervisor = Supervisor([Program("child", [sys.executable, "-c", child])],
                            env=dict(os.environ), cwd=".", say=print)
    supervisor.start()
    supervisor.run()
    """
)


def test_a_supervisor_killed_with_sigkill_takes_its_processes_and_theirs_with_it(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", SUPERVISED],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        child, grandchild = (int(pid) for pid in process.stdout.readline().split())
        assert not _gone(child) and not _gone(grandchild)
        process.kill()
        process.wait(timeout=10)
        assert _wait_gone(child), "the child outlived its supervisor"
        assert _wait_gone(grandchild), "the grandchild outlived the supervisor"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from cdp_project.devtools.supervisor import StackLock

    lock = StackLock(Path(sys.argv[1]))  # held while this process lives
    lock.acquire(url="http://127.0.0.1:8399/")
    print("held", flush=True)
    time.sleep(120)
    """
)


def test_one_stack_per_data_folder_and_a_killed_one_does_not_block_the_next(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StackRunning) as running:
            StackLock(tmp_path).acquire(url="http://127.0.0.1:8398/")
        assert running.value.url == "http://127.0.0.1:8399/"
        assert running.value.pid == holder.pid
    finally:
        holder.kill()
        holder.wait(timeout=10)
    # Its pid file is still there; the lock died with it.
    assert (tmp_path / "runstack.pid").exists()
    lock = StackLock(tmp_path)
    lock.acquire(url="http://127.0.0.1:8398/")
    lock.release()
    assert not (tmp_path / "runstack.pid").exists()
