"""Webhooks refuse private addresses and sign their body; the unsubscribe link withdraws
consent with one click."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from campaigns import channels, engine
from campaigns.models import Campaign, Message
from profiles.models import Consent, ConsentChange, Profile
from tests.campaigns.conftest import identify, ordered, run, send

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.9", "169.254.169.254", "::1", "0.0.0.0"],  # noqa: S104,
)
def test_webhooks_refuse_loopback_private_and_link_local_addresses(host, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert channels.address_allowed(host) is not None
    settings.WEBHOOK_ALLOW_PRIVATE = True
    assert channels.address_allowed(host) is None


def test_a_public_address_is_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert channels.address_allowed("8.8.8.8") is None


def test_a_webhook_to_a_private_address_fails_with_the_reason(ingest, clock, campaigns, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.CAMPAIGNS_MAX_ATTEMPTS = 1
    Campaign.objects.filter(kind="order_confirmation").update(
        channel="webhook", webhook_url="http://127.0.0.1:9/hook"
    )
    send(ingest, identify("ann"), ordered("ann", "o-1"))
    run()
    message = Message.objects.get()
    assert message.status == Message.Status.FAILED
    assert message.error.startswith("refused: 127.0.0.1 resolves to 127.0.0.1")


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver.received
    server.shutdown()
    server.server_close()


def test_a_webhook_posts_signed_json_with_the_idempotency_key(
    ingest, clock, campaigns, settings, receiver
):
    url, received = receiver
    settings.WEBHOOK_ALLOW_PRIVATE = True
    campaign = campaigns["order_confirmation"]
    campaign.channel, campaign.webhook_url = "webhook", url
    campaign.save()
    send(ingest, identify("ann"), ordered("ann", "o-1"))
    run()

    [(headers, body)] = received
    message = Message.objects.get()
    assert message.status == Message.Status.SENT
    expected = hmac.new(
        campaign.webhook_secret.encode(),
        headers["X-CDP-Timestamp"].encode() + b"." + body,
        hashlib.sha256,
    ).hexdigest()
    assert headers["X-CDP-Signature"] == f"sha256={expected}"
    assert headers["Idempotency-Key"] == message.idempotency_key
    payload = json.loads(body)
    assert payload["subject"] == "Your order o-1 is confirmed"
    assert payload["idempotency_key"] == message.idempotency_key


@pytest.mark.urls("tests.campaigns.urls")
def test_unsubscribe_asks_first_then_withdraws_consent(ingest, clock, campaigns, client):
    send(ingest, identify("ann"))
    ann = Profile.objects.get(user_id="ann")
    url = engine.unsubscribe_url(ann).removeprefix("http://localhost:8000")
    assert url.startswith("/campaigns/unsubscribe/")

    page = client.get(url)
    assert page.status_code == 200 and b"Unsubscribe from marketing emails?" in page.content
    ann.refresh_from_db()
    assert ann.email_consent == Consent.GRANTED  # a link scanner's GET changes nothing

    # RFC 8058 one-click: a POST with no CSRF token.
    one_click = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and b"You are unsubscribed" in one_click.content
    ann.refresh_from_db()
    assert ann.email_consent == Consent.WITHDRAWN
    assert ConsentChange.objects.filter(profile=ann, state=Consent.WITHDRAWN).exists()


@pytest.mark.urls("tests.campaigns.urls")
def test_a_forged_unsubscribe_token_is_refused(client, db):
    assert client.post("/campaigns/unsubscribe/forged/").status_code == 404
