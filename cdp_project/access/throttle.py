"""Failed logins are throttled per user name and address.

After `LOGIN_FAILURE_LIMIT` failed logins for one user name from one address, further
attempts for it from there are refused, with a message saying so, until
`LOGIN_LOCKOUT_SECONDS` have passed since the last failure. The password is not even
checked meanwhile, so a locked-out guesser learns nothing. Counts live where every web
process counts together (`cdp_project.core.counters`: Redis when `CACHE_URL` is Redis, else
Postgres), each failure one atomic increment, so the lockout comes at the limit whichever
process answers.

The address is the peer's (`REMOTE_ADDR`). `X-Forwarded-For` is believed only from a peer
listed in `LOGIN_TRUSTED_PROXIES` (empty by default): otherwise a guesser would name a new
address in the header for every try and never be locked out.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest

from cdp_project.core.client import client_address
from cdp_project.core.counters import counter_add, counter_delete, counter_get


def _key(username: str, ip: str | None) -> str:
    raw = f"{username.strip().casefold()}|{ip or ''}".encode()
    return "access:login-failures:" + hashlib.sha256(raw).hexdigest()


def login_client_ip(request: HttpRequest) -> str | None:
    """The peer's address, or a forwarded one when the peer is in `LOGIN_TRUSTED_PROXIES`."""
    return client_address(request, trusted_proxies=settings.LOGIN_TRUSTED_PROXIES)


def login_locked(*, username: str, ip: str | None) -> bool:
    count = counter_get(_key(username, ip), now=time.time())
    return count >= settings.LOGIN_FAILURE_LIMIT


def login_failure_record(*, username: str, ip: str | None) -> int:
    """Count a failure; the total so far. The lockout runs from the last failure: a guesser
    who keeps trying stays locked out."""
    now = time.time()
    return counter_add(
        _key(username, ip), 1, expires_at=now + settings.LOGIN_LOCKOUT_SECONDS, now=now
    )


def login_failures_clear(*, username: str, ip: str | None) -> None:
    counter_delete(_key(username, ip))


def lockout_message() -> str:
    minutes = math.ceil(settings.LOGIN_LOCKOUT_SECONDS / 60)
    return (
        "Too many failed logins for this user name from your address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}, "
        "or reset your password."
    )


class ThrottledLoginMixin:
    """For an `AuthenticationForm`: refuse while locked out, count failures."""

    request: HttpRequest | None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""  # type: ignore[attr-defined]
        ip = login_client_ip(self.request) if self.request is not None else None
        if username and login_locked(username=username, ip=ip):
            raise forms.ValidationError(lockout_message(), code="locked")
        try:
            cleaned = super().clean()  # type: ignore[misc]
        except forms.ValidationError:
            if username:
                login_failure_record(username=username, ip=ip)
            raise
        login_failures_clear(username=username, ip=ip)
        return cleaned


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass
