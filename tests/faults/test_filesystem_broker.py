"""The embedded broker never hands a consumer a partial message, and a consumer never dies
of an unreadable one: real producer and consumer processes on real files, on kombu's stock
filesystem transport (which fails these tests: kombu issue #1551) and on ours."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cdp_project.celery import app as celery_app
from cdp_project.devtools.embedded import filesystem_broker_options
from cdp_project.devtools.filesystem_broker import SCHEME, unreadable_count
from cdp_project.heartbeats import WORKER
from cdp_project.models import Heartbeat
from ingestion.models import Event
from tests.conftest import wait_for

pytestmark = pytest.mark.slow

CLIENT = Path(__file__).with_name("broker_client.py")
STOCK = "filesystem"
TRANSPORTS = [pytest.param(STOCK, id="kombu-stock"), pytest.param(SCHEME, id="atomic")]


def _run(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(CLIENT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _queue(var: Path) -> Path:
    return Path(filesystem_broker_options(var)["data_folder_in"])


def _messages(var: Path) -> list[Path]:
    return sorted(_queue(var).glob("*.tasks.msg"))


def _start_consumer(scheme: str, var: Path, out: Path) -> subprocess.Popen:
    consumer = _run("consume", scheme, str(var), "60", str(out))
    wait_for(lambda: _lines(out)[:1] == [{"ready": True}] or consumer.poll() is not None,
             timeout=30, what="the consumer")  # fmt: skip
    return consumer


@pytest.mark.parametrize("scheme", TRANSPORTS)
def test_a_consumer_polling_while_a_producer_is_paused_mid_message_never_sees_it_partial(
    scheme, tmp_path
):
    var, out, pause = tmp_path / "var", tmp_path / "received.jsonl", tmp_path / "pause"
    pause.mkdir()
    consumer = _start_consumer(scheme, var, out)
    producer = _run("produce", scheme, str(var), "stop", str(pause))
    wait_for(lambda: (pause / "paused").exists(), timeout=30, what="the producer's pause")
    time.sleep(1.5)  # the consumer polls every 0.05 s meanwhile: some 30 polls
    (pause / "go").touch()
    assert producer.wait(timeout=30) == 0, producer.stdout.read()
    wait_for(lambda: consumer.poll() is not None, timeout=30, what="the consumer to stop")
    received = _lines(out)[1:]

    if scheme == STOCK:
        # The stock consumer took the empty file and died on it; the message was lost.
        assert consumer.returncode == 1
        assert len(received) == 1 and received[0]["error"].startswith("JSONDecodeError")
        return
    assert consumer.returncode == 0, consumer.stdout.read()
    assert received == [{"body": "stop"}]
    assert _messages(var) == []
    assert unreadable_count(filesystem_broker_options(var)) == 0


@pytest.mark.parametrize("scheme", TRANSPORTS)
def test_unreadable_message_files_are_set_aside_and_the_next_message_still_arrives(
    scheme, tmp_path
):
    var, out = tmp_path / "var", tmp_path / "received.jsonl"
    assert _run("produce", scheme, str(var), "lost").wait(timeout=30) == 0
    [written] = _messages(var)
    whole = written.read_bytes()
    written.write_bytes(whole[: len(whole) // 2])  # as a producer killed mid-write leaves it
    time.sleep(0.01)  # the next file's name sorts after it (milliseconds first)
    empty = _queue(var) / f"{written.name.split('_')[0]}_empty.tasks.msg"
    empty.write_bytes(b"")
    foreign = _queue(var) / f"{written.name.split('_')[0]}_foreign.tasks.msg"
    foreign.write_bytes(b'{"hello": "world"}')  # JSON, but not a kombu message
    assert _run("produce", scheme, str(var), "stop").wait(timeout=30) == 0

    consumer = _start_consumer(scheme, var, out)
    wait_for(lambda: consumer.poll() is not None, timeout=30, what="the consumer to stop")
    received = _lines(out)[1:]
    log = consumer.stdout.read()

    if scheme == STOCK:
        assert consumer.returncode == 1
        assert received[0]["error"].startswith("JSONDecodeError")
        assert {"body": "stop"} not in received
        return
    assert consumer.returncode == 0, log
    assert received == [{"body": "stop"}]
    unreadable = Path(filesystem_broker_options(var)["unreadable_folder"])
    assert sorted(p.name for p in unreadable.iterdir()) == sorted(
        [written.name, empty.name, foreign.name]
    )
    assert (unreadable / written.name).read_bytes() == whole[: len(whole) // 2]
    assert unreadable_count(filesystem_broker_options(var)) == 3
    assert log.count("broker_message_set_aside") == 3
    assert "reason=not a kombu message" in log
    assert _messages(var) == []


# --- a real Celery worker ------------------------------------------------------------------


def _celery_message_file(queue: Path, content: bytes, name: str) -> Path:
    path = queue / f"{round(time.monotonic() * 1000)}_{name}.celery.msg"
    path.write_bytes(content)
    return path


def test_a_worker_survives_an_empty_and_a_truncated_message_and_runs_the_next_task(stack, client):
    queue = _queue(stack.var)
    celery_app.send_task("cdp.heartbeat")  # a real task message, to cut in half
    [task] = queue.glob("*.msg")  # in whichever queue the task is routed to
    whole = task.read_bytes()
    task.write_bytes(whole[: len(whole) // 2])
    _celery_message_file(queue, b"", "empty")

    worker = stack.worker()
    options = filesystem_broker_options(stack.var)
    wait_for(lambda: unreadable_count(options) == 2 or worker.poll() is not None,
             timeout=60, what="both files set aside")  # fmt: skip
    assert worker.poll() is None, stack.log("worker.log")
    assert list(queue.glob("*.msg")) == []

    celery_app.send_task("cdp.heartbeat")
    wait_for(lambda: Heartbeat.objects.filter(name=WORKER).exists() or worker.poll() is not None,
             timeout=60, what="the task sent afterwards")  # fmt: skip
    assert worker.poll() is None, stack.log("worker.log")
    log = stack.log("worker.log")
    assert log.count("broker_message_set_aside") == 2
    assert "Unrecoverable error" not in log
    assert client.get("/health/").json()["unreadable_messages"] == 2


def test_events_behind_a_set_aside_message_are_processed_by_the_sweep(stack, ingest, settings):
    batch = [{"type": "track", "userId": f"u{i}", "event": "Product Viewed"} for i in range(5)]
    assert ingest("batch", {"batch": batch}).status_code == 200
    queue = _queue(stack.var)
    [task] = queue.glob("*.celery.msg")  # ingestion.process_events for the 5 events
    assert b"ingestion.process_events" in task.read_bytes()
    task.write_bytes(task.read_bytes()[:100])
    assert Event.objects.filter(processed_at__isnull=True).count() == 5

    stack.env.update(INGEST_SWEEP_SECONDS="2", INGEST_SWEEP_GRACE_SECONDS="1")
    worker, beat = stack.worker(), stack.beat()
    wait_for(lambda: not Event.objects.filter(processed_at__isnull=True).exists()
             or worker.poll() is not None,
             timeout=90, what="the sweep to process the events")  # fmt: skip
    assert worker.poll() is None and beat.poll() is None, stack.log("worker.log")
    assert unreadable_count(filesystem_broker_options(stack.var)) == 1
    assert "ingest_sweep_processed events=5" in stack.log("worker.log")


@pytest.mark.parametrize("scheme", TRANSPORTS)
def test_a_publisher_reading_an_exchange_table_being_created_never_reads_it_empty(scheme, tmp_path):
    import kombu

    var, pause = tmp_path / "var", tmp_path / "pause"
    pause.mkdir()
    binder = _run("bind", scheme, str(var), str(pause))
    wait_for(lambda: (pause / "paused").exists(), timeout=30, what="the pause")
    options = filesystem_broker_options(var)
    try:
        with kombu.Connection(f"{scheme}://", transport_options=options) as conn:
            table = conn.default_channel.get_table("orders")  # what every publish reads
    except ValueError as exc:
        table = exc
    finally:
        (pause / "go").touch()
        assert binder.wait(timeout=30) == 0, binder.stdout.read()

    if scheme == STOCK:
        assert type(table).__name__ == "JSONDecodeError"  # the empty file it truncated
        return
    assert table == []  # not there yet: whole or absent
    with kombu.Connection(f"{scheme}://", transport_options=options) as conn:
        channel = conn.default_channel
        assert [row.queue for row in channel.get_table("orders")] == ["qa"]
        assert [p.name for p in Path(options["control_folder"]).iterdir()] == [
            "orders.exchange"
        ]  # no temporary file left
        channel._queue_bind("orders", "b", "", "qb")
        channel._queue_bind("orders", "b", "", "qb")
        assert sorted(row.queue for row in channel.get_table("orders")) == ["qa", "qb"]
