"""The people behind events: the ids an event carries, and what ingestion asks about them of
the app that keeps people (profiles), which registers its answers at start-up.

Ingestion sits below profiles and never imports it. Profiles fills this registry in its
AppConfig.ready (`people_register`), as apps fill INGEST_EVENT_PROCESSORS: ingest then
resolves a batch's profiles, refuses suppressed people and locks profiles in the order every
writer of profiles takes them, through the functions below. Without profiles installed,
events are stored without a profile and nothing is suppressed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ingestion.messages import CleanEvent
from ingestion.models import Event

Key = tuple[str, str]
# The namespaces of ids, as profiles stores them (`Identity.Namespace`).
USER_ID = "user_id"
ANONYMOUS_ID = "anonymous_id"
EMAIL = "email"


@dataclass
class IdentityClaim:
    """The ids one event carries."""

    message_id: str
    timestamp: datetime
    user_id: str = ""
    anonymous_id: str = ""
    email: str = ""
    # alias: the id being linked to `user_id`
    previous_id: str = ""
    other: list[Key] = field(default_factory=list)

    def keys(self) -> list[Key]:
        keys: list[Key] = []
        if self.user_id:
            keys.append((USER_ID, self.user_id))
        if self.email:
            keys.append((EMAIL, self.email))
        if self.anonymous_id:
            keys.append((ANONYMOUS_ID, self.anonymous_id))
        keys += self.other
        return keys

    def previous_keys(self) -> list[Key]:
        if not self.previous_id:
            return []
        return [(USER_ID, self.previous_id), (ANONYMOUS_ID, self.previous_id)]


def identity_claim(event: Event | CleanEvent) -> IdentityClaim:
    """The ids an event carries, for identity resolution."""
    email = ""
    if event.type == "identify":
        value = event.traits.get("email")
        if isinstance(value, str) and "@" in value:
            email = value.strip().lower()[:320]
    previous = event.extra.get("previousId") if event.type == "alias" else None
    return IdentityClaim(
        message_id=event.message_id,
        timestamp=event.timestamp,
        user_id=event.user_id,
        anonymous_id=event.anonymous_id,
        email=email,
        previous_id=str(previous)[:255] if previous not in (None, "") else "",
    )


Resolve = Callable[[Sequence[IdentityClaim]], Sequence[int | None]]
Suppressed = Callable[[Collection[Key]], set[Key]]
Lock = Callable[[Iterable[int]], None]


@dataclass(frozen=True)
class _People:
    resolve: Resolve
    suppressed: Suppressed
    lock: Lock


def _no_profiles(claims: Sequence[IdentityClaim]) -> list[int | None]:
    return [None] * len(claims)


# Until an app registers: events are stored without a profile, and nothing is suppressed.
_NOBODY = _People(resolve=_no_profiles, suppressed=lambda keys: set(), lock=lambda ids: None)
_people = _NOBODY


def people_register(*, resolve: Resolve, suppressed: Suppressed, lock: Lock) -> None:
    """Called once by the app that keeps people, in its AppConfig.ready.

    - `resolve(claims)`: each claim's profile id, in order, inside the ingest transaction;
    - `suppressed(keys)`: which of these ids belong to deleted people whose ids are
      suppressed (their events are refused);
    - `lock(profile_ids)`: lock these profiles for the rest of the transaction, in the order
      every writer of profiles takes them."""
    global _people
    _people = _People(resolve=resolve, suppressed=suppressed, lock=lock)


def people_resolve(claims: Sequence[IdentityClaim]) -> list[int | None]:
    return list(_people.resolve(claims))


def people_suppressed(keys: Collection[Key]) -> set[Key]:
    return _people.suppressed(keys) if keys else set()


def people_lock(profile_ids: Iterable[int]) -> None:
    _people.lock(profile_ids)
