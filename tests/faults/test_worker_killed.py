"""A worker killed in the middle of a send: the message is sent by the next worker and
recorded once. The one repeat that can happen, when the receiver had taken the message and we
had not yet recorded it, carries the same idempotency key (docs/campaigns.md)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from campaigns.defaults import campaigns_setup
from campaigns.models import Campaign, Enrollment, Message
from cdp_project.celery import app as celery_app
from tests.conftest import _use_broker, process_stored, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]


class Receiver:
    """A webhook receiver that takes the first delivery and never answers it (the process
    that sent it dies meanwhile), then answers every later one."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.keys.append(self.headers.get("Idempotency-Key", ""))
                if len(receiver.keys) == 1:
                    receiver.release.wait(30)
                    return
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_worker_killed_mid_send_leaves_the_message_to_the_next_one_with_the_same_key(
    worker_process, throwaway_redis, ingest
):
    receiver = Receiver()
    try:
        campaigns_setup()
        Campaign.objects.filter(kind=Campaign.Kind.ORDER_CONFIRMATION).update(
            status=Campaign.Status.ACTIVE,
            channel=Campaign.Channel.WEBHOOK,
            webhook_url=receiver.url,
        )
        order = {"type": "track", "event": "Order Completed", "userId": "ann",
                 "properties": {"order_id": "O-1", "total": 25}}  # fmt: skip
        assert ingest("track", order).status_code == 200
        process_stored()
        assert Enrollment.objects.get().state == "pending"

        _use_broker(throwaway_redis.url, {"socket_connect_timeout": 2})
        env = {"WEBHOOK_ALLOW_PRIVATE": "true", "CAMPAIGNS_RETRY_SECONDS": "1"}
        first = worker_process(throwaway_redis.url, **env)
        first.start()
        celery_app.send_task("campaigns.run_due")
        wait_for(lambda: len(receiver.keys) == 1, timeout=30, what="the first delivery")
        first.kill()  # the receiver has the message; we never heard back

        message = Message.objects.get()
        assert (message.status, message.attempts) == ("claimed", 1)

        second = worker_process(throwaway_redis.url, **env)
        second.start()
        time.sleep(1.2)  # the first try's lease, CAMPAIGNS_RETRY_SECONDS
        celery_app.send_task("campaigns.run_due")
        wait_for(
            lambda: Message.objects.filter(status="sent").exists(),
            timeout=30,
            what="the next worker to send it",
        )
        message.refresh_from_db()
        assert Message.objects.count() == 1
        assert message.attempts == 2
        assert Enrollment.objects.get().state == "sent"
        assert receiver.keys == [message.idempotency_key] * 2
    finally:
        receiver.close()
        _use_broker("memory://", {})


def test_a_worker_killed_mid_journey_neither_loses_nor_repeats_a_step(
    worker_process, throwaway_redis, ingest
):
    from campaigns.journeys.services import journey_create, journey_draft_save, journey_publish
    from campaigns.models import StepRun
    from campaigns.services import campaign_status_set
    from cdp_project.access.actors import Actor

    receiver = Receiver()
    try:
        actor = Actor.system("test")
        journey = journey_create(actor=actor, name="Two hooks", template="blank")

        def hook(step_id: str, nxt: str = "") -> dict:
            return {"id": step_id, "type": "send", "channel": "webhook",
                    "transactional": True, "webhook_url": receiver.url, "next": nxt}  # fmt: skip

        tree = {
            "trigger": {"kind": "activity", "activity": {"kind": "track", "name": "Signed Up"}},
            "start": "first",
            "steps": [hook("first", "second"), hook("second")],
        }
        # The receiver is on this machine: publishing checks the address as sending does.
        with override_settings(WEBHOOK_ALLOW_PRIVATE=True):
            assert journey_draft_save(actor=actor, campaign=journey, definition=tree) == []
            journey_publish(actor=actor, campaign=journey)
            campaign_status_set(actor=actor, campaign=journey, status=Campaign.Status.ACTIVE)
        signup = {"type": "track", "event": "Signed Up", "userId": "ann"}
        assert ingest("track", signup).status_code == 200
        process_stored()

        _use_broker(throwaway_redis.url, {"socket_connect_timeout": 2})
        env = {"WEBHOOK_ALLOW_PRIVATE": "true", "CAMPAIGNS_RETRY_SECONDS": "1"}
        first = worker_process(throwaway_redis.url, **env)
        first.start()
        celery_app.send_task("campaigns.run_due")
        wait_for(lambda: len(receiver.keys) == 1, timeout=30, what="the first step's delivery")
        first.kill()

        second = worker_process(throwaway_redis.url, **env)
        second.start()
        time.sleep(1.2)
        celery_app.send_task("campaigns.run_due")
        wait_for(
            lambda: Message.objects.filter(status="sent").count() == 2,
            timeout=30,
            what="both steps' messages to be sent",
        )
        first_message = Message.objects.get(node="first")
        second_message = Message.objects.get(node="second")
        assert sorted(StepRun.objects.values_list("node", flat=True)) == ["first", "second"]
        # The first step's message went twice with one key (the receiver had it when the
        # worker died); the second went once.
        assert sorted(receiver.keys) == sorted(
            [first_message.idempotency_key] * 2 + [second_message.idempotency_key]
        )
        assert Enrollment.objects.get().state == "sent"
    finally:
        receiver.close()
        _use_broker("memory://", {})
