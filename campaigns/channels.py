"""How a recorded message leaves: email through Django's email backends, or a signed
webhook.

Both receive the message's idempotency key: email as its `Message-ID` and an
`X-Idempotency-Key` header (ESP backends that de-duplicate read one of them), webhooks as an
`Idempotency-Key` header. A channel raises `ChannelError` when the message was not accepted;
the engine retries with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from email.utils import formataddr
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from campaigns.models import Campaign, Message

WEBHOOK_TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-CDP-Signature"
TIMESTAMP_HEADER = "X-CDP-Timestamp"


class ChannelError(Exception):
    """The channel did not accept the message."""


def sender_of(campaign: Campaign) -> str:
    address = campaign.sender_email or settings.DEFAULT_FROM_EMAIL
    return formataddr((campaign.sender_name, address)) if campaign.sender_name else address


def email_send(message: Message) -> None:
    """Hand an email to the configured backend (EMAIL_URL)."""
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        from_email=message.sender or settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        headers=dict(message.headers),
        connection=get_connection(fail_silently=False),
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    try:
        sent = email.send(fail_silently=False)
    except Exception as exc:  # SMTP, network and ESP errors alike
        raise ChannelError(f"{exc.__class__.__name__}: {exc}") from exc
    if not sent:
        raise ChannelError("the email backend did not accept the message")


def address_allowed(host: str) -> str | None:
    """Why a webhook host may not be called, or None: every address it resolves to must be
    public unless WEBHOOK_ALLOW_PRIVATE (loopback, private, link-local, reserved refused)."""
    if not host:
        return "the address has no host"
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return None
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        return f"the host {host} cannot be resolved ({exc})"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
        ):
            return f"{host} resolves to {address}, a private or local address"
    return None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of "<timestamp>.<body>" with the campaign's secret, as hex."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def webhook_payload(message: Message) -> dict[str, Any]:
    return {
        "idempotency_key": message.idempotency_key,
        "campaign": (
            {"id": message.campaign_id, "name": message.campaign.name} if message.campaign else None
        ),
        "profile_id": message.profile_id,
        "subject": message.subject,
        "html": message.html,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
    }


def webhook_send(message: Message, *, secret: str) -> None:
    """POST the message as signed JSON; a non-2xx answer or a refused address fails it."""
    url = message.recipient
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ChannelError("the webhook address must start with http:// or https://")
    refused = address_allowed(parts.hostname or "")
    if refused:
        raise ChannelError(f"refused: {refused}")
    body = json.dumps(webhook_payload(message), separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "cdp-campaigns/1",
        "Idempotency-Key": message.idempotency_key,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    try:
        response = requests.post(
            url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise ChannelError(f"{exc.__class__.__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise ChannelError(f"the webhook answered {response.status_code}")


def deliver(message: Message) -> None:
    """Send a recorded message through its channel; raises ChannelError."""
    if message.channel == Campaign.Channel.WEBHOOK:
        secret = message.campaign.webhook_secret if message.campaign else ""
        webhook_send(message, secret=secret)
    else:
        email_send(message)
