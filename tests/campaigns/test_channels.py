"""Webhooks refuse private addresses and sign their body; the unsubscribe link withdraws
consent with one click."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
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


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # carrier-grade NAT
        "100.100.100.200",  # a cloud's metadata service, inside it
        "169.254.169.254",
        "198.18.0.1",  # benchmarking
        "192.0.2.1",  # documentation
        "240.0.0.1",  # reserved
        "224.0.0.1",  # multicast
        "255.255.255.255",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "::ffff:127.0.0.1",
        "::10.0.0.1",  # IPv4-compatible
        "2002:a9fe:a9fe::1",  # 6to4 around 169.254.169.254
        "2002:0a00:0001::1",  # 6to4 around 10.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
        "64:ff9b::6464:64c8",  # NAT64 around 100.100.100.200
        "64:ff9b:1::1",  # local-use NAT64
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "2001:db8::1",
        "fc00::1",
        "fe80::1",
        "ff02::1",
        "::",
    ],
)
def test_webhooks_allow_only_globally_routable_addresses(address, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    refusal = channels.address_allowed(address)
    assert refusal is not None and "not a public internet address" in refusal


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:0808:0808::1"]
)
def test_globally_routable_addresses_are_allowed(address, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert channels.address_allowed(address) is None


def test_a_name_with_one_private_answer_among_public_ones_is_refused(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 0)) for ip in ("8.8.8.8", "10.0.0.1")
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
    assert "10.0.0.1" in channels.address_allowed("mixed.example")


class _Rebinding:
    """A name that answers the checked address first and another one after."""

    def __init__(self, name: str, first: str, then: str) -> None:
        self.name, self.first, self.then = name, first, then
        self.asked = 0
        self.real = socket.getaddrinfo

    def __call__(self, host, *args, **kwargs):
        if host != self.name:
            return self.real(host, *args, **kwargs)
        self.asked += 1
        ip = self.first if self.asked == 1 else self.then
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 0))]


def test_a_webhook_connects_to_the_address_it_checked_and_resolves_once(
    ingest, clock, campaigns, settings, receiver, monkeypatch
):
    # Loopback is allowed here (the receiver runs on 127.0.0.1); the name answers the
    # receiver's address first, then an address where nothing listens.
    url, received = receiver
    settings.WEBHOOK_ALLOW_PRIVATE = True
    port = url.split(":")[2].split("/")[0]
    rebinding = _Rebinding("hooks.shop.test", "127.0.0.1", "127.0.0.2")
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    campaign = campaigns["order_confirmation"]
    campaign.channel, campaign.webhook_url = "webhook", f"http://hooks.shop.test:{port}/hook"
    campaign.save()
    send(ingest, identify("ann"), ordered("ann", "o-1"))
    run()

    assert Message.objects.get().status == Message.Status.SENT
    [(headers, _body)] = received
    assert headers["Host"] == f"hooks.shop.test:{port}"
    assert rebinding.asked == 1


def test_a_rebinding_name_never_reaches_the_private_address(
    ingest, clock, campaigns, settings, receiver, monkeypatch
):
    # Public first (checked, allowed), then the receiver's loopback address: the webhook
    # goes to the public address (unreachable here) and never to the receiver.
    url, received = receiver
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.CAMPAIGNS_MAX_ATTEMPTS = 1
    port = url.split(":")[2].split("/")[0]
    rebinding = _Rebinding("hooks.shop.test", "8.8.8.8", "127.0.0.1")
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    campaign = campaigns["order_confirmation"]
    campaign.channel, campaign.webhook_url = "webhook", f"http://hooks.shop.test:{port}/hook"
    campaign.save()
    send(ingest, identify("ann"), ordered("ann", "o-1"))
    run()

    assert received == []
    assert rebinding.asked == 1
    assert Message.objects.get().status == Message.Status.FAILED


def test_a_webhook_to_loopback_is_refused_unless_allowed(
    ingest, clock, campaigns, settings, receiver
):
    url, received = receiver
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.CAMPAIGNS_MAX_ATTEMPTS = 1
    campaign = campaigns["order_confirmation"]
    campaign.channel, campaign.webhook_url = "webhook", url
    campaign.save()
    send(ingest, identify("ann"), ordered("ann", "o-1"))
    run()
    assert received == []
    assert Message.objects.get().status == Message.Status.FAILED


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


def _marketing_message(campaigns, profile: Profile) -> Message:
    """A marketing email to `profile` as the engine records it in the Outbox."""
    campaign = next(c for c in campaigns.values() if c.is_marketing and c.channel == "email")
    message = engine.message_build(campaign, profile, recipient=profile.email)
    message.save()
    return message


def _unsubscribe_path(message: Message) -> str:
    header = message.headers["List-Unsubscribe"].strip("<>")
    return "/" + header.split("/", 3)[3]


@pytest.mark.urls("tests.campaigns.urls")
def test_unsubscribe_asks_first_then_withdraws_consent(ingest, clock, campaigns, client):
    send(ingest, identify("ann"))
    ann = Profile.objects.get(user_id="ann")
    message = _marketing_message(campaigns, ann)
    url = _unsubscribe_path(message)
    assert url.startswith("/campaigns/unsubscribe/")
    assert url in message.html and url in message.text

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
def test_the_consent_record_names_the_unsubscribe_link_and_its_message(
    ingest, clock, campaigns, client
):
    send(ingest, identify("ann"))
    ann = Profile.objects.get(user_id="ann")
    message = _marketing_message(campaigns, ann)
    client.post(_unsubscribe_path(message), {"List-Unsubscribe": "One-Click"})

    change = ConsentChange.objects.get(profile=ann, state=Consent.WITHDRAWN)
    assert "profile page" not in change.how
    assert f"from the unsubscribe link of Outbox message #{message.pk}" in change.how
    assert message.campaign.name in change.how


@pytest.mark.urls("tests.campaigns.urls")
def test_the_unsubscribe_token_names_a_message_not_a_person(ingest, clock, campaigns, client):
    from django.core import signing

    send(ingest, identify("ann"))
    ann = Profile.objects.get(user_id="ann")
    first, second = _marketing_message(campaigns, ann), _marketing_message(campaigns, ann)
    token = _unsubscribe_path(first).split("/")[3]
    # Only the message's random key: no profile id, no address, and not the same twice.
    assert signing.loads(token, salt=engine.UNSUBSCRIBE_SALT) == {"m": first.idempotency_key}
    assert len(first.idempotency_key) == 32 and token != _unsubscribe_path(second).split("/")[3]
    # A test send's message has no person: a token naming it unsubscribes nobody.
    message = _marketing_message(campaigns, ann)
    Message.objects.filter(pk=message.pk).update(profile=None, rendered_for=ann)
    response = client.post(_unsubscribe_path(message), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 404


@pytest.mark.urls("tests.campaigns.urls")
@pytest.mark.parametrize("payload", [{"p": "ANN"}, {"e": "ann@example.com"}, {"m": "KEY"}])
def test_a_token_signed_with_the_old_default_key_is_refused(
    ingest, clock, campaigns, client, payload
):
    from django.core import signing

    from cdp_project.core.secret_key import PUBLIC_SECRET_KEYS

    send(ingest, identify("ann"))
    ann = Profile.objects.get(user_id="ann")
    real = _marketing_message(campaigns, ann)
    values = {"ANN": ann.pk, "KEY": real.idempotency_key}
    payload = {k: values.get(v, v) for k, v in payload.items()}
    for public_key in PUBLIC_SECRET_KEYS:
        forged = signing.dumps(payload, key=public_key, salt=engine.UNSUBSCRIBE_SALT)
        response = client.post(f"/campaigns/unsubscribe/{forged}/", {"x": "One-Click"})
        assert response.status_code == 404
    ann.refresh_from_db()
    assert ann.email_consent == Consent.GRANTED
    assert not ConsentChange.objects.filter(state=Consent.WITHDRAWN).exists()


@pytest.mark.urls("tests.campaigns.urls")
def test_a_link_sent_before_tokens_named_messages_still_unsubscribes(
    ingest, clock, campaigns, client
):
    from django.core import signing

    send(ingest, identify("ann"))
    ann = Profile.objects.get(user_id="ann")
    token = signing.dumps({"p": ann.pk, "e": ann.email}, salt=engine.UNSUBSCRIBE_SALT)
    assert client.post(f"/campaigns/unsubscribe/{token}/").status_code == 200
    ann.refresh_from_db()
    assert ann.email_consent == Consent.WITHDRAWN


@pytest.mark.urls("tests.campaigns.urls")
def test_a_forged_unsubscribe_token_is_refused(client, db):
    assert client.post("/campaigns/unsubscribe/forged/").status_code == 404
