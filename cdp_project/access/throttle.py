"""Failed logins are throttled per user name and address.

After `LOGIN_FAILURE_LIMIT` failed logins for one user name from one address, further
attempts for it from there are refused, with a message saying so, until
`LOGIN_LOCKOUT_SECONDS` have passed since the last failure. The password is not even
checked meanwhile, so a locked-out guesser learns nothing. Counts live in Django's cache:
with several web processes, point `CACHE_URL` at a shared cache (Redis, or a database
cache) or each process counts on its own.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest

from ingestion.apis import client_ip


def _key(username: str, ip: str | None) -> str:
    raw = f"{username.strip().casefold()}|{ip or ''}".encode()
    return "access:login-failures:" + hashlib.sha256(raw).hexdigest()


def login_locked(*, username: str, ip: str | None) -> bool:
    return cache.get(_key(username, ip), 0) >= settings.LOGIN_FAILURE_LIMIT


def login_failure_record(*, username: str, ip: str | None) -> None:
    key = _key(username, ip)
    # The lockout runs from the last failure: a guesser who keeps trying stays locked out.
    cache.set(key, cache.get(key, 0) + 1, settings.LOGIN_LOCKOUT_SECONDS)


def login_failures_clear(*, username: str, ip: str | None) -> None:
    cache.delete(_key(username, ip))


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
        ip = client_ip(self.request) if self.request is not None else None
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
