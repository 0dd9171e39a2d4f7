"""Who makes a change: a signed-in user, or a named part of the system.

Every action takes one (`actor=`) and writes it on its audit entry, so a change made by a
command, a task or the demo setup is recorded like one a marketer made in a page. A system
actor's name says what acted, as "kind:name": `command:import_profiles`, `task:…`, `demo`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest

from cdp_project.core.client import client_address


@dataclass(frozen=True)
class Actor:
    """A user, or a system name (never both), and the address the change came from."""

    user: User | None = None
    system_name: str = ""
    ip: str | None = None

    def __post_init__(self) -> None:
        if (self.user is None) == (not self.system_name):
            raise ValueError("An actor is a user or a system name, exactly one of them.")

    @classmethod
    def for_user(cls, user: User, *, ip: str | None = None) -> Actor:
        return cls(user=user, ip=ip)

    @classmethod
    def system(cls, name: str, *, ip: str | None = None) -> Actor:
        """A named part of the system: `Actor.system("command:import_profiles")`."""
        return cls(system_name=name, ip=ip)

    @classmethod
    def from_request(cls, request: HttpRequest, *, system: str = "") -> Actor:
        """The request's signed-in user, at the request's client address. With `system`
        (a page anyone with a link may use, as the unsubscribe page), that system name
        whoever is signed in; with nobody signed in, `anonymous`."""
        ip = client_address(request, trusted_proxies=settings.INGEST_TRUSTED_PROXIES)
        user = getattr(request, "user", None)
        if not system and user is not None and user.is_authenticated:
            return cls(user=user, ip=ip)
        return cls(system_name=system or "anonymous", ip=ip)

    @property
    def name(self) -> str:
        """The user's name, or the system's."""
        return self.user.get_username() if self.user is not None else self.system_name

    def __str__(self) -> str:
        return self.name
