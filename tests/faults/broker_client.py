"""A producer or a consumer of the filesystem broker, run as a process of its own by
tests/faults/test_filesystem_broker.py.

    python broker_client.py produce SCHEME VAR BODY [PAUSE_DIR]
    python broker_client.py consume SCHEME VAR SECONDS OUT
    python broker_client.py bind SCHEME VAR PAUSE_DIR
    python broker_client.py bench VAR COUNT

`bench` times COUNT publishes of a task-sized message on each transport, in turn, three
rounds, and prints the median cost of one publish (docs/reliability.md).

`produce` publishes one message; with PAUSE_DIR it stops after the message file is created
and before its content is written (where kombu serialises the payload), creates
PAUSE_DIR/paused, and goes on once PAUSE_DIR/go exists. `consume` appends one JSON line
to OUT per message received ({"body": …}) and stops at the first error ({"error": …}),
after SECONDS, or after a message whose body is "stop". `bind` creates the table of the
exchange "orders", paused the same way after the table file is created and before it is
written (kombu's transport locks the file in between, so it is paused before the lock).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import kombu  # noqa: E402

from cdp_project.devtools import filesystem_broker  # noqa: E402 (registers filesystem-atomic://)
from cdp_project.devtools.embedded import filesystem_broker_options  # noqa: E402

QUEUE = kombu.Queue("tasks", routing_key="tasks")


def connection(scheme: str, var: str) -> kombu.Connection:
    options = {**filesystem_broker_options(Path(var)), "polling_interval": 0.05}
    return kombu.Connection(f"{scheme}://", transport_options=options)


def pause_before_writing(scheme: str, pause_dir: Path) -> None:
    """Both transports serialise the payload after opening the file they write."""
    import kombu.transport.filesystem as stock

    module = filesystem_broker if scheme == filesystem_broker.SCHEME else stock
    serialise = module.dumps

    def paused_dumps(payload: object) -> str:
        (pause_dir / "paused").touch()
        while not (pause_dir / "go").exists():
            time.sleep(0.01)
        return serialise(payload)

    module.dumps = paused_dumps


def pause_before_writing_table(scheme: str, pause_dir: Path) -> None:
    import kombu.transport.filesystem as stock

    if scheme == filesystem_broker.SCHEME:
        pause_before_writing(scheme, pause_dir)
        return
    take_lock = stock.lock

    def paused_lock(file: object, flags: int) -> None:
        (pause_dir / "paused").touch()
        while not (pause_dir / "go").exists():
            time.sleep(0.01)
        take_lock(file, flags)

    stock.lock = paused_lock


def bind(scheme: str, var: str, pause_dir: str) -> None:
    with connection(scheme, var) as conn:
        channel = conn.default_channel
        pause_before_writing_table(scheme, Path(pause_dir))
        channel._queue_bind("orders", "a", "", "qa")


def produce(scheme: str, var: str, body: str, pause_dir: str | None = None) -> None:
    with connection(scheme, var) as conn:
        QUEUE(conn.default_channel).declare()
        if pause_dir:
            pause_before_writing(scheme, Path(pause_dir))
        conn.Producer().publish(body, routing_key="tasks", serializer="json")


def consume(scheme: str, var: str, seconds: str, out: str) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    received = Path(out)
    done = []

    def record(line: dict) -> None:
        with received.open("a") as f:
            f.write(json.dumps(line) + "\n")

    def on_message(body: object, message: kombu.Message) -> None:
        record({"body": body})
        message.ack()
        if body == "stop":
            done.append(True)

    deadline = time.monotonic() + float(seconds)
    with (
        connection(scheme, var) as conn,
        conn.Consumer([QUEUE], callbacks=[on_message], accept=["json"]),
    ):
        record({"ready": True})
        while not done and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.1)
            except TimeoutError:
                continue
            except Exception as exc:  # what a worker would die of
                record({"error": f"{type(exc).__name__}: {exc}"})
                return 1
    return 0


def bench(var: str, count: str) -> None:
    import shutil
    import statistics

    body = {"args": [list(range(1000, 1050))], "kwargs": {}}  # a 50-event processing task
    timings: dict[str, list[float]] = {}
    for _round in range(3):
        for scheme in ("filesystem", filesystem_broker.SCHEME):
            folder = Path(var) / scheme
            with connection(scheme, str(folder)) as conn:
                QUEUE(conn.default_channel).declare()
                producer = conn.Producer()
                started = time.perf_counter()
                for _ in range(int(count)):
                    producer.publish(body, routing_key="tasks", serializer="json")
                elapsed = time.perf_counter() - started
            timings.setdefault(scheme, []).append(elapsed / int(count) * 1e6)
            shutil.rmtree(folder)
    for scheme, figures in timings.items():
        runs = ", ".join(f"{f:.0f}" for f in figures)
        print(f"{scheme}: {statistics.median(figures):.0f} µs a publish (runs: {runs})")


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "produce":
        produce(*args)
    elif role == "bind":
        bind(*args)
    elif role == "bench":
        bench(*args)
    else:
        sys.exit(consume(*args))
