"""The caller's address, for the ingest API, the audit log and the login lockout.

The address is the peer's (`REMOTE_ADDR`). `X-Forwarded-For` is believed only when the peer
is a proxy the caller trusts: otherwise anyone could name any address in the header. Each
use passes its own list (`INGEST_TRUSTED_PROXIES`, `LOGIN_TRUSTED_PROXIES`), since the
login lockout trusts no proxy unless told to while ingest trusts the local one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.http import HttpRequest


def client_address(request: HttpRequest, *, trusted_proxies: Iterable[str]) -> str | None:
    """The peer's address; when the peer is a trusted proxy, the last `X-Forwarded-For`
    entry that is not one."""
    trusted = tuple(trusted_proxies)
    remote: str | None = request.META.get("REMOTE_ADDR") or None
    forwarded: str = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not remote or not forwarded or not is_trusted_proxy(remote, trusted):
        return remote
    for candidate in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not is_trusted_proxy(candidate, trusted):
            return candidate
    return remote


def is_trusted_proxy(address: str, trusted_proxies: Iterable[str]) -> bool:
    """Whether `address` is one of `trusted_proxies` (addresses or networks); an entry that
    is not an address or network is ignored."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in trusted_proxies:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False
