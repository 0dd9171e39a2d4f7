"""Data rights: one person's export, their deletion, suppression of their ids, retention.

docs/profiles.md ("Data rights") says what each does for marketers. The decisions that
matter for privacy are here:
- A deletion removes the profile with its events, ids, orders, consent history, notes and
  merge records, what other apps registered as the person's data (campaigns: the messages
  sent to them or rendered with their data for a test send, their enrollments), and every
  copy of the person's values the platform kept elsewhere, whatever a field's marking:
  catalog examples (by the profile each came from, and by value for those of no known
  origin), products only their events described, debugger refusals, audit summaries,
  admin log entries. One transaction: all or nothing.
- A suppressed id is kept only as an HMAC-SHA256 of its value under
  PROFILE_SUPPRESSION_KEY, so the table of suppressions names nobody.
- Ingest asks `identities_suppressed()` once per request. While no id is suppressed at all
  (the common case) a process skips the query, re-asking at most every
  PROFILE_SUPPRESSION_RECHECK_SECONDS; a deletion takes effect at once in its own process.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from cdp_project.access.actors import Actor
from cdp_project.access.audit import action, audit_summaries_scrub, audit_write
from ingestion.catalog.products import products_delete_of_people
from ingestion.catalog.services import examples_scrub
from ingestion.models import Event
from ingestion.people import ANONYMOUS_ID, USER_ID
from ingestion.services import events_delete_of_person, refusals_delete_mentioning
from profiles.models import (
    ConsentChange,
    Identity,
    Order,
    Profile,
    ProfileDeletion,
    ProfileMerge,
    ProfileNote,
    SuppressedIdentity,
)

logger = logging.getLogger(__name__)

Key = tuple[str, str]

# --- suppression -----------------------------------------------------------------------------


def identity_hash(namespace: str, value: str) -> str:
    """The keyed hash a suppressed id is kept as: equal ids give equal hashes, and without
    the key nobody can test a guessed email against the table."""
    message = f"{namespace}\x1f{value}".encode()
    return hmac.new(settings.PROFILE_SUPPRESSION_KEY.encode(), message, "sha256").hexdigest()


@dataclass
class _SuppressionState:
    exists: bool = False
    checked_at: float = float("-inf")


_state = _SuppressionState()

# The second part answers "is anything suppressed at all?" in the same round trip, so a
# process learns that suppressions exist (or no longer do) without a query of its own.
_SUPPRESSED = """
    SELECT s.namespace, s.value_hash FROM profiles_suppressedidentity s
    JOIN unnest(%s::text[], %s::text[]) AS k(namespace, value_hash)
      ON s.namespace = k.namespace AND s.value_hash = k.value_hash
    UNION ALL
    SELECT NULL, NULL WHERE EXISTS (SELECT 1 FROM profiles_suppressedidentity)
"""


def identities_suppressed(keys: Collection[Key]) -> set[Key]:
    """Which of these (namespace, value) ids belong to deleted, suppressed people.

    One indexed query (the unique index on namespace and hash), or none while this process
    knows of no suppression and last asked less than PROFILE_SUPPRESSION_RECHECK_SECONDS ago.
    """
    if not keys:
        return set()
    now = time.monotonic()
    recheck = settings.PROFILE_SUPPRESSION_RECHECK_SECONDS
    if not _state.exists and now - _state.checked_at < recheck:
        return set()
    by_hash = {
        (namespace, identity_hash(namespace, value)): (namespace, value)
        for namespace, value in keys
    }
    ordered = sorted(by_hash)
    with connection.cursor() as cursor:
        cursor.execute(_SUPPRESSED, [[k[0] for k in ordered], [k[1] for k in ordered]])
        rows = cursor.fetchall()
    _state.exists, _state.checked_at = bool(rows), now
    return {by_hash[(namespace, digest)] for namespace, digest in rows if namespace is not None}


def _suppressions_now_exist() -> None:
    _state.exists, _state.checked_at = True, time.monotonic()


def suppression_forget() -> None:
    """Make this process ask the database again on the next check (tests, admin edits)."""
    _state.exists, _state.checked_at = False, float("-inf")


def identities_suppress(keys: Iterable[Key]) -> int:
    """Suppress these ids: new events that carry any of them are refused at ingest."""
    rows = [
        SuppressedIdentity(namespace=namespace, value_hash=identity_hash(namespace, value))
        for namespace, value in set(keys)
    ]
    SuppressedIdentity.objects.bulk_create(rows, ignore_conflicts=True)
    # At once, not on commit: believing a suppression exists when it was rolled back costs
    # one query, which corrects the belief; the other way round would let events through.
    _suppressions_now_exist()
    return len(rows)


# --- what other apps hold about a person -----------------------------------------------------


@dataclass
class PersonalData:
    """Data another app keeps about a profile (campaigns: the messages sent to it): its
    section of the export, and how to delete it with the profile."""

    name: str
    export: Callable[[Profile], Iterable[dict[str, Any]]]
    delete: Callable[[Profile], int]


_holders: dict[str, PersonalData] = {}


def personal_data_register(*, name: str, export: Callable, delete: Callable) -> None:
    """Called by an app at start-up (its AppConfig.ready) for each kind of personal data
    it keeps per profile. Export and deletion then include it."""
    _holders[name] = PersonalData(name=name, export=export, delete=delete)


# --- export ----------------------------------------------------------------------------------

EXPORT_FORMAT = "cdp.profile-export"
EXPORT_VERSION = 1
_PROFILE_FIELDS = ("id", "created_at", "user_id", "email", "name", "traits", "trait_times")
_CONSENT_FIELDS = ("email_consent", "email_consent_at", "sms_consent", "sms_consent_at")
_EVENT_FIELDS = (
    "id",
    "message_id",
    "type",
    "name",
    "user_id",
    "anonymous_id",
    "timestamp",
    "original_timestamp",
    "sent_at",
    "received_at",
    "properties",
    "traits",
    "context",
    "extra",
    "flags",
)
_STREAM_CHUNK = 64 * 1024


def _dumps(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


def _fields(instance: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in names}


def profile_export_parts(*, profile: Profile) -> dict[str, Any]:
    """Everything stored about a profile but its events (which are streamed)."""
    consent: dict[str, Any] = {
        channel: {"state": getattr(profile, f"{channel}_consent") or "unknown", "at": at}
        for channel, at in (("email", profile.email_consent_at), ("sms", profile.sms_consent_at))
    }
    consent["history"] = list(
        ConsentChange.objects.filter(profile=profile)
        .order_by("at", "id")
        .values("channel", "state", "at", "how", "message_id")
    )
    computed_fields = [
        f.attname
        for f in Profile._meta.concrete_fields
        if f.attname not in _PROFILE_FIELDS and f.attname not in _CONSENT_FIELDS
    ]
    parts: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": timezone.now(),
        "profile": _fields(profile, _PROFILE_FIELDS),
        "identities": list(
            Identity.objects.filter(profile=profile)
            .order_by("first_seen", "id")
            .values("namespace", "value", "first_seen", "message_id")
        ),
        "consent": consent,
        "computed": _fields(profile, computed_fields),
        "orders": list(
            Order.objects.filter(profile=profile)
            .order_by("placed_at", "id")
            .values(
                "order_id",
                "placed_at",
                "status",
                "currency",
                "total",
                "refunded",
                "rate",
                "net_revenue",
                "products",
                "message_id",
            )
        ),
        # Who wrote a note is the platform's staff, not the person: only what it says.
        "notes": list(
            ProfileNote.objects.filter(profile=profile)
            .order_by("created_at", "id")
            .values("body", "created_at")
        ),
        "merges": list(
            ProfileMerge.objects.filter(survivor=profile)
            .order_by("merged_at", "id")
            .values(
                "merged_profile_id", "identities", "linked_by", "message_id", "reason", "merged_at"
            )
        ),
        # The messages sent to the person (and test sends rendered with their data):
        # campaigns fills it in through personal_data_register(name="messages", …), and
        # adds the campaigns they entered, with why a message was not sent.
        "messages": [],
    }
    for holder in _holders.values():
        parts[holder.name] = list(holder.export(profile))
    return parts


def profile_export(*, profile: Profile) -> Iterator[str]:
    """The export as JSON text, in pieces: the profile's parts first, then its events read
    with a server-side cursor, so memory stays flat however many events it has."""
    head = _dumps(profile_export_parts(profile=profile))
    yield head[:-1] + ',\n"events": ['
    events = (
        Event.objects.filter(profile=profile)
        .order_by("timestamp", "id")
        .values(*_EVENT_FIELDS, "source__name")
        .iterator(chunk_size=2000)
    )
    buffer: list[str] = []
    size = 0
    separator = "\n"
    for event in events:
        event["source"] = event.pop("source__name")
        text = separator + _dumps(event)
        separator = ",\n"
        buffer.append(text)
        size += len(text)
        if size >= _STREAM_CHUNK:
            yield "".join(buffer)
            buffer, size = [], 0
    buffer.append("\n]}\n")
    yield "".join(buffer)


# --- deletion --------------------------------------------------------------------------------

# An example is scrubbed when it equals one of the person's values, or contains one at
# least this long (shorter ones, "US" or "en", would scrub unrelated examples).
_CONTAINED_MIN_LENGTH = 4
_PERSONAL_TRAIT_KEYS = ("name", "first_name", "last_name", "phone", "email")


@dataclass
class _PersonalValues:
    strong: set[str]  # ids, email, name, phone: what identifies the person
    all: set[str]  # and every trait text value

    def matches(self, text: str, *, strong_only: bool = False) -> bool:
        lowered = text.lower()
        for value in self.strong if strong_only else self.all:
            if lowered == value or (len(value) >= _CONTAINED_MIN_LENGTH and value in lowered):
                return True
        return False


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value.strip():
            yield value.strip()
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _personal_values(profile: Profile, identities: list[Key]) -> _PersonalValues:
    strong = {value for _, value in identities}
    strong |= {profile.email, profile.user_id, profile.name}
    for key in _PERSONAL_TRAIT_KEYS:
        value = profile.traits.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            strong.add(str(value))
    for merge in ProfileMerge.objects.filter(survivor=profile).values_list("identities", flat=True):
        strong |= {str(pair[1]) for pair in merge if isinstance(pair, list) and len(pair) == 2}
    strong = {value.strip().lower() for value in strong if value and value.strip()}
    every = strong | {text.lower() for text in _texts(profile.traits)}
    return _PersonalValues(strong=strong, all=every)


def _personal(example: Any, values: _PersonalValues) -> bool:
    if isinstance(example, bool) or example is None:
        return False
    if isinstance(example, int | float):
        return values.matches(str(example))
    return any(values.matches(text) for text in _texts(example))


def _delete_admin_log(profile_id: int, values: _PersonalValues) -> int:
    """Django admin's history names objects by their text (a profile by its email)."""
    condition = Q(
        content_type=ContentType.objects.get_for_model(Profile), object_id=str(profile_id)
    )
    for value in values.strong:
        if len(value) >= _CONTAINED_MIN_LENGTH:
            condition |= Q(object_repr__icontains=value) | Q(change_message__icontains=value)
    deleted, _ = LogEntry.objects.filter(condition).delete()
    return deleted


@action
def profile_delete(
    *, actor: Actor, profile_id: int, suppress: bool = False, reason: str = ""
) -> ProfileDeletion:
    """Delete a person: the profile and everything about them (module docstring), and with
    `suppress`, refuse their ids' new events from now on. Returns the record of it, which
    keeps counts and no personal value."""
    with transaction.atomic():
        profile = Profile.objects.select_for_update().get(pk=profile_id)
        identities = list(
            Identity.objects.filter(profile=profile).values_list("namespace", "value")
        )
        values = _personal_values(profile, identities)
        # The profiles merged into this one: examples and products their events gave name
        # them, not the survivor.
        profile_ids = [
            profile.pk,
            *ProfileMerge.objects.filter(survivor=profile).values_list(
                "merged_profile_id", flat=True
            ),
        ]
        events = events_delete_of_person(
            profile_id=profile.pk,
            user_ids=[value for namespace, value in identities if namespace == USER_ID],
            anonymous_ids=[value for namespace, value in identities if namespace == ANONYMOUS_ID],
        )
        for model in (ConsentChange, Order, ProfileNote):
            model.objects.filter(profile=profile).delete()
        ProfileMerge.objects.filter(survivor=profile).delete()
        identities_deleted, _ = Identity.objects.filter(profile=profile).delete()
        for holder in _holders.values():
            holder.delete(profile)
        # Whatever else points at the profile (segment membership, and anything a holder
        # missed: every foreign key to a profile cascades) goes with it. Through the ORM, not
        # SQL: Django, not the database, carries out on_delete=CASCADE.
        Profile.objects.filter(pk=profile.pk).delete()
        examples = examples_scrub(
            profile_ids=profile_ids,
            values=values.all,
            personal=lambda example: _personal(example, values),
        )
        products = products_delete_of_people(profile_ids=profile_ids)
        refusals = refusals_delete_mentioning(
            values=[value for value in values.strong if len(value) >= _CONTAINED_MIN_LENGTH]
        )
        _delete_admin_log(profile.pk, values)
        audit_summaries_scrub(
            values=[value for value in values.strong if len(value) >= _CONTAINED_MIN_LENGTH]
        )
        if suppress:
            identities_suppress(identities)
        record = ProfileDeletion.objects.create(
            profile_id=profile_id,
            deleted_by=actor.user if actor.user is not None and actor.user.pk else None,
            events_deleted=events,
            identities_deleted=identities_deleted,
            suppressed=suppress,
            reason=reason,
        )
        audit_write(
            actor=actor,
            action="profile.delete",
            object_type="profile",
            object_id=profile_id,
            summary=f"Deleted profile #{profile_id} with {events} events"
            + (", ids suppressed" if suppress else ""),
        )
    logger.info(
        "profile_deleted profile_id=%s events=%d identities=%d examples_scrubbed=%d "
        "products_deleted=%d refusals_deleted=%d suppressed=%s",
        profile_id,
        events,
        identities_deleted,
        examples,
        products,
        refusals,
        suppress,
    )
    return record


@dataclass
class DeletionPreview:
    """What a deletion would remove, for the confirmation page."""

    events: int
    identities: list[Key]
    orders: int
    consent_changes: int
    notes: int
    merges: int


def profile_deletion_preview(*, profile: Profile) -> DeletionPreview:
    return DeletionPreview(
        events=Event.objects.filter(profile=profile).count(),
        identities=list(
            Identity.objects.filter(profile=profile)
            .order_by("namespace", "value")
            .values_list("namespace", "value")
        ),
        orders=Order.objects.filter(profile=profile).count(),
        consent_changes=ConsentChange.objects.filter(profile=profile).count(),
        notes=ProfileNote.objects.filter(profile=profile).count(),
        merges=ProfileMerge.objects.filter(survivor=profile).count(),
    )


__all__ = [
    "DeletionPreview",
    "identities_suppress",
    "identities_suppressed",
    "identity_hash",
    "personal_data_register",
    "profile_delete",
    "profile_deletion_preview",
    "profile_export",
    "profile_export_parts",
    "suppression_forget",
]
