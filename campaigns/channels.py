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
from urllib.parse import SplitResult, urlsplit

import requests
import urllib3
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from campaigns.models import Campaign, Message

WEBHOOK_TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-CDP-Signature"
TIMESTAMP_HEADER = "X-CDP-Timestamp"


class ChannelError(Exception):
    """The channel did not accept the message."""


def sender_of(name: str, email: str) -> str:
    """The From of a message: the step's sender, else the site's address."""
    address = email or settings.DEFAULT_FROM_EMAIL
    return formataddr((name, address)) if name else address


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


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def address_refusal(address: IPAddress) -> str | None:
    """Why a webhook may not be sent to `address`, or None when it is globally routable.

    Only what is routable on the internet is allowed (`is_global`), not a list of known
    private ranges: carrier-grade NAT (100.64.0.0/10, where some clouds keep their metadata
    service), benchmarking and documentation ranges are refused with the rest. IPv6 forms
    that carry an IPv4 address (IPv4-mapped, 6to4, NAT64) are judged by the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            refusal = address_refusal(embedded)
            return f"{refusal} (inside {address})" if refusal else None
    if not address.is_global or address.is_multicast or address.is_reserved:
        return f"{address} is not a public internet address"
    return None


def webhook_address(host: str) -> tuple[str | None, str | None]:
    """Resolve `host` once: (the address to connect to, None), or (None, why not).

    Every address the name resolves to must be allowed, so that no answer of a name that
    changes its answers (DNS rebinding) gets in; the caller connects to the returned
    address itself and never resolves the name again. WEBHOOK_ALLOW_PRIVATE (local
    development and tests) allows every address."""
    if not host:
        return None, "the address has no host"
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        return None, f"the host {host} cannot be resolved ({exc})"
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        return None, f"the host {host} cannot be resolved"
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            refusal = address_refusal(address)
            if refusal:
                return None, f"{host} resolves to {address}: {refusal}"
    return str(addresses[0]), None


def address_allowed(host: str) -> str | None:
    """Why a webhook host may not be called, or None (see `webhook_address`)."""
    return webhook_address(host)[1]


def url_refusal(url: str) -> str | None:
    """Why a webhook to `url` would be refused at send time, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "the webhook address must start with http:// or https://"
    try:
        hostname = parts.hostname or ""
    except ValueError:
        return "the address has no valid host"
    return address_allowed(hostname)


def _post_to(
    address: str, parts: SplitResult, body: bytes, headers: dict[str, str]
) -> urllib3.BaseHTTPResponse:
    """POST to `address`, the one checked, sending the URL's host name as Host and, over
    HTTPS, as the TLS server name the certificate is verified against."""
    hostname = parts.hostname or ""
    default_port = 443 if parts.scheme == "https" else 80
    port = parts.port or default_port
    host_header = hostname if ":" not in hostname else f"[{hostname}]"
    if port != default_port:
        host_header += f":{port}"
    options: dict[str, Any] = {
        "timeout": urllib3.Timeout(total=WEBHOOK_TIMEOUT_SECONDS),
        "retries": False,
        "maxsize": 1,
    }
    pool: urllib3.HTTPConnectionPool
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            server_hostname=hostname,
            assert_hostname=hostname,
            cert_reqs="CERT_REQUIRED",
            ca_certs=requests.certs.where(),
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, **options)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    with pool:
        return pool.urlopen(
            "POST",
            path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            assert_same_host=False,
        )


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
    parts = urlsplit(message.recipient)
    if parts.scheme not in ("http", "https"):
        raise ChannelError("the webhook address must start with http:// or https://")
    try:
        hostname = parts.hostname or ""
    except ValueError:
        hostname = ""
    address, refused = webhook_address(hostname)
    if refused or address is None:
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
        response = _post_to(address, parts, body, headers)
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        raise ChannelError(f"{exc.__class__.__name__}: {exc}") from exc
    if not 200 <= response.status < 300:
        raise ChannelError(f"the webhook answered {response.status}")


def deliver(message: Message) -> None:
    """Send a recorded message through its channel; raises ChannelError."""
    if message.channel == Campaign.Channel.WEBHOOK:
        secret = message.campaign.webhook_secret if message.campaign else ""
        webhook_send(message, secret=secret)
    else:
        email_send(message)
