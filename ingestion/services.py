"""Writes for ingestion: sources and keys, storing events, and their follow-up processing."""

from __future__ import annotations

import enum
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Func, Q, Value
from django.utils import timezone
from django.utils.module_loading import import_string

from cdp_project.access.actors import Actor
from cdp_project.access.audit import action, audit_write
from cdp_project.core.db import sqlstate
from cdp_project.core.jsontext import json_text
from cdp_project.core.prepared import prepared_cursor
from cdp_project.core.publish import task_publish
from ingestion.amounts import order_amounts_check
from ingestion.catalog.discovery import ACTIVITY_KINDS, activities_blocked, activity_key
from ingestion.catalog.services import activities_count_blocked
from ingestion.messages import BatchContext, CleanEvent, Refused, clean_message, excerpt
from ingestion.models import Event, Refusal, Source, WriteKey
from ingestion.people import (
    IdentityClaim,
    identity_claim,
    people_lock,
    people_resolve,
    people_suppressed,
)

logger = logging.getLogger(__name__)


# --- sources and write keys ----------------------------------------------------------------


@action
def source_create(
    *,
    actor: Actor,
    name: str,
    kind: str = Source.Kind.SERVER,
    allowed_origins: Sequence[str] = (),
) -> Source:
    source = Source.objects.create(name=name, kind=kind, allowed_origins=list(allowed_origins))
    WriteKey.objects.create(source=source, label="First key")
    audit_write(
        actor=actor,
        action="source.create",
        obj=source,
        summary=f"Created source “{source.name}” ({source.kind}) with its first key",
    )
    return source


class Unchanged(enum.Enum):
    """A setting left as it is."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED
# About a hundred years: a bound a form can say, not a policy.
MAX_RETENTION_DAYS = 36_500


@action
def source_update(
    *,
    actor: Actor,
    source: Source,
    name: str,
    kind: str,
    enabled: bool,
    allowed_origins: Sequence[str],
    retention_days: int | Unchanged | None = UNCHANGED,
) -> Source:
    """Save a source's settings. `retention_days`: how many days its events are kept (None:
    the site's EVENT_RETENTION_DAYS, 0: for ever); left as it is when not given."""
    source.name = name
    source.kind = kind
    source.enabled = enabled
    source.allowed_origins = [o.strip().rstrip("/") for o in allowed_origins if o.strip()]
    update = ["name", "kind", "enabled", "allowed_origins"]
    if not isinstance(retention_days, Unchanged):
        if retention_days is not None and not 0 <= retention_days <= MAX_RETENTION_DAYS:
            raise ValueError(f"retention_days must be 0 to {MAX_RETENTION_DAYS}, or None")
        source.retention_days = retention_days
        update.append("retention_days")
    source.save(update_fields=update)
    days = source.retention_days_applied
    audit_write(
        actor=actor,
        action="source.update",
        obj=source,
        summary=f"Saved settings of “{source.name}” (enabled: {source.enabled}, "
        f"{len(source.allowed_origins)} allowed origins, events kept "
        + (f"{days} days" if days else "for ever")
        + (")" if source.retention_days is not None else ", the site's setting)"),
    )
    return source


@action
def write_key_create(*, actor: Actor, source: Source, label: str = "") -> WriteKey:
    """The first half of a rotation: the old keys keep working until they are revoked."""
    key = WriteKey.objects.create(source=source, label=label)
    audit_write(
        actor=actor,
        action="write_key.create",
        obj=key,
        summary=f"New write key {key.key[:6]}… for “{source.name}”",
    )
    return key


@action
def write_key_revoke(*, actor: Actor, write_key: WriteKey) -> WriteKey:
    if write_key.revoked_at is None:
        write_key.revoked_at = timezone.now()
        write_key.save(update_fields=["revoked_at"])
    audit_write(
        actor=actor,
        action="write_key.revoke",
        obj=write_key,
        summary=f"Revoked write key {write_key.key[:6]}… of source #{write_key.source_id}",
    )
    return write_key


# --- storing events ------------------------------------------------------------------------


@dataclass
class RefusedEvent:
    index: int | None
    code: str
    message: str
    message_id: str = ""
    excerpt: str = ""

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "code": self.code, "message": self.message}
        if self.message_id:
            body["messageId"] = self.message_id
        return body


def _storable_text(value: str) -> str:
    """A refused message's raw text as Postgres can keep it: no NUL, no lone surrogate."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    refused: list[RefusedEvent] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)


MAX_REFUSALS_RECORDED_PER_REQUEST = 100

_INSERT_MESSAGE_KEYS = """
    INSERT INTO ingestion_messagekey (source_id, message_id, received_at)
    SELECT %s, message_id, %s FROM jsonb_array_elements_text(%s::jsonb) AS message_id
    ON CONFLICT (source_id, message_id) DO NOTHING
    RETURNING message_id
"""


def events_ingest(
    *,
    source: Source,
    messages: Sequence[Any],
    batch: BatchContext,
    message_type: str | None = None,
) -> IngestResult:
    """Clean, de-duplicate and store a request's messages in one transaction.

    Invalid messages are refused one by one and recorded for the debugger; the valid ones
    are stored. Only the first of several messages with the same `messageId` (in this
    request or any earlier one from the same source) is stored; the others count as
    duplicates, which is success for the sender. Processing is published after commit.
    """
    result = IngestResult()
    clean: list[CleanEvent] = []
    for index, raw in enumerate(messages):
        try:
            event = clean_message(raw, batch, message_type=message_type)
            order_amounts_check(kind=event.type, name=event.name, properties=event.properties)
            event.index = index
            clean.append(event)
        except Refused as refusal:
            message_id = raw.get("messageId") if isinstance(raw, dict) else None
            result.refused.append(
                RefusedEvent(
                    index=index,
                    code=refusal.code,
                    message=refusal.message,
                    message_id=_storable_text(message_id)[:128]
                    if isinstance(message_id, str)
                    else "",
                    excerpt=excerpt(raw),
                )
            )

    clean, blocked = _refuse_blocked_activities(clean, result, messages)
    claims = {event.index: identity_claim(event) for event in clean}
    clean = _refuse_suppressed_people(clean, claims, result)

    with transaction.atomic():
        if blocked:
            # After commit, in a statement of its own: the count must not hold a lock on
            # the activity for the rest of the ingest transaction.
            transaction.on_commit(lambda: activities_count_blocked(blocked))
        new_ids: set[str] = set()
        if clean:
            with prepared_cursor() as cursor:
                cursor.execute(
                    _INSERT_MESSAGE_KEYS,
                    # One JSON text, encoded in C, rather than an array adapted in Python.
                    [source.pk, batch.received_at, json_text([e.message_id for e in clean])],
                )
                new_ids = {row[0] for row in cursor.fetchall()}
        rows: list[CleanEvent] = []
        for event in clean:
            if event.message_id not in new_ids:
                result.duplicates += 1
                continue
            new_ids.discard(event.message_id)  # a repeat later in this batch is a duplicate
            rows.append(event)
        if rows:
            # One call for the whole batch: profiles resolves every id at once.
            profile_ids = people_resolve([claims[event.index] for event in rows])
            result.event_ids = events_insert(
                source_id=source.pk,
                received_at=batch.received_at,
                events=rows,
                profile_ids=profile_ids,
            )
        if result.refused:
            # The response lists every refusal; the debugger keeps the first ones of a
            # request, so a sender of thousands of broken events cannot flood the table.
            refusals_record(
                source=source,
                refused=result.refused[:MAX_REFUSALS_RECORDED_PER_REQUEST],
                received_at=batch.received_at,
            )
        result.accepted = len(rows)
        if result.event_ids:
            ids = list(result.event_ids)
            transaction.on_commit(lambda: events_publish_processing(event_ids=ids))
    return result


_EVENT_COLUMNS = {
    "source_id": "bigint",
    "message_id": "text",
    "type": "text",
    "name": "text",
    "user_id": "text",
    "anonymous_id": "text",
    "timestamp": "timestamptz",
    "original_timestamp": "timestamptz",
    "sent_at": "timestamptz",
    "received_at": "timestamptz",
    "properties": "jsonb",
    "traits": "jsonb",
    "context": "jsonb",
    "extra": "jsonb",
    "flags": "jsonb",
    "profile_id": "bigint",
}
_INSERT_EVENTS = f"""
    INSERT INTO ingestion_event ({", ".join(_EVENT_COLUMNS)})
    SELECT {", ".join(_EVENT_COLUMNS)}
    FROM jsonb_to_recordset(%s::jsonb)
        AS t({", ".join(f'"{name}" {kind}' for name, kind in _EVENT_COLUMNS.items())})
    RETURNING id, message_id
"""  # noqa: S608 - the column names above, never input


def events_insert(
    *,
    source_id: int,
    received_at: datetime,
    events: Sequence[CleanEvent],
    profile_ids: Sequence[int | None],
) -> list[int]:
    """Insert a batch of clean events in one statement; returns their ids, in order.

    The batch travels as one JSON document read by `jsonb_to_recordset`: serialising it is
    one call to a JSON encoder written in C, where `bulk_create` adapts every value of
    every column in Python (its arrays of JSON documents cost more than the insert itself).
    """
    document = json_text(
        [
            {
                "source_id": source_id,
                "message_id": event.message_id,
                "type": event.type,
                "name": event.name,
                "user_id": event.user_id,
                "anonymous_id": event.anonymous_id,
                "timestamp": event.timestamp,
                "original_timestamp": event.original_timestamp,
                "sent_at": event.sent_at,
                "received_at": received_at,
                "properties": event.properties,
                "traits": event.traits,
                "context": event.context,
                "extra": event.extra,
                "flags": event.flags,
                "profile_id": profile_id,
            }
            for event, profile_id in zip(events, profile_ids, strict=True)
        ]
    )
    with prepared_cursor() as cursor:
        cursor.execute(_INSERT_EVENTS, [document])
        ids = dict((message_id, pk) for pk, message_id in cursor.fetchall())
    return [ids[event.message_id] for event in events]


def _refuse_blocked_activities(
    clean: list[CleanEvent], result: IngestResult, messages: Sequence[Any]
) -> tuple[list[CleanEvent], Counter[tuple[str, str]]]:
    """Refuse the events of activities a marketer blocked in the catalog (one query)."""
    keys = {activity_key(e.type, e.name) for e in clean if e.type in ACTIVITY_KINDS}
    blocked_keys = activities_blocked(keys)
    if not blocked_keys:
        return clean, Counter()
    kept: list[CleanEvent] = []
    blocked: Counter[tuple[str, str]] = Counter()
    for event in clean:
        key = activity_key(event.type, event.name)
        if event.type not in ACTIVITY_KINDS or key not in blocked_keys:
            kept.append(event)
            continue
        blocked[key] += 1
        label = f"“{event.name}”" if event.type == "track" else f"{event.type} calls"
        result.refused.append(
            RefusedEvent(
                index=event.index,
                code="activity_blocked",
                message=f"The activity {label} is blocked in the catalog; its events are refused.",
                message_id=event.message_id,
                excerpt=excerpt(messages[event.index]),
            )
        )
    result.refused.sort(key=lambda refused: refused.index if refused.index is not None else -1)
    return kept, blocked


def _refuse_suppressed_people(
    clean: list[CleanEvent], claims: dict[int, IdentityClaim], result: IngestResult
) -> list[CleanEvent]:
    """Refuse the events of people who were deleted with their ids suppressed, so that they
    are not made again. At most one indexed query, none while nothing is suppressed
    (profiles/rights.py answers, through ingestion/people.py). Nothing of such an event is
    kept: no payload excerpt, no event."""
    if not clean:
        return clean
    keys = {event.index: _claim_keys(claims[event.index]) for event in clean}
    suppressed = people_suppressed({key for ids in keys.values() for key in ids})
    if not suppressed:
        return clean
    kept = []
    for event in clean:
        if suppressed.isdisjoint(keys[event.index]):
            kept.append(event)
            continue
        result.refused.append(
            RefusedEvent(
                index=event.index,
                code="profile_suppressed",
                message="The person this event is about was deleted and their ids are "
                "suppressed; their events are not stored.",
                message_id=event.message_id,
            )
        )
    result.refused.sort(key=lambda refused: refused.index if refused.index is not None else -1)
    return kept


def _claim_keys(claim: IdentityClaim) -> list[tuple[str, str]]:
    return claim.keys() + claim.previous_keys()


def events_resolve_missing_profiles(*, batch_size: int = 1000) -> int:
    """Give a profile to stored events that have none (events stored before profiles
    existed), oldest first, one batch per transaction. Returns how many were resolved."""
    total = 0
    while True:
        with transaction.atomic():
            events = list(
                Event.objects.select_for_update(skip_locked=True)
                .filter(profile__isnull=True)
                .order_by("pk")[:batch_size]
            )
            if not events:
                return total
            profile_ids = people_resolve([identity_claim(event) for event in events])
            for event, profile_id in zip(events, profile_ids, strict=True):
                event.profile_id = profile_id
            Event.objects.bulk_update(events, ["profile"])
        total += len(events)


def events_move_to_profile(*, from_profile_id: int, to_profile_id: int) -> int:
    """Move one profile's events to another (a merge); served by the timeline index."""
    return Event.objects.filter(profile_id=from_profile_id).update(profile_id=to_profile_id)


def events_delete_of_person(
    *, profile_id: int, user_ids: Sequence[str], anonymous_ids: Sequence[str]
) -> int:
    """Delete a person's events (profiles' deletion calls it): the profile's, in one
    statement served by the timeline index, and any event of their ids that was stored
    before profiles existed and has none yet. Returns how many were deleted."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ingestion_event WHERE profile_id = %s", [profile_id])
        deleted: int = cursor.rowcount
        if user_ids or anonymous_ids:
            cursor.execute(
                "DELETE FROM ingestion_event WHERE profile_id IS NULL "
                "AND (user_id = ANY(%s) OR anonymous_id = ANY(%s))",
                [list(user_ids), list(anonymous_ids)],
            )
            deleted += cursor.rowcount
    return deleted


def refusals_delete_mentioning(*, values: Iterable[str]) -> int:
    """Delete the debugger's refusals whose excerpt or message holds one of these values (a
    deleted person's ids and name). Excerpts are written with `ensure_ascii`, so each value
    is looked for as written and as JSON escapes it."""
    condition = Q()
    for value in values:
        escaped = json.dumps(value)[1:-1]
        condition |= Q(excerpt__icontains=value) | Q(excerpt__icontains=escaped)
        condition |= Q(message__icontains=value)
    if not condition:
        return 0
    deleted, _ = Refusal.objects.filter(condition).delete()
    return deleted


def refusals_record(
    *, source: Source, refused: Sequence[RefusedEvent], received_at: datetime | None = None
) -> None:
    received_at = received_at or timezone.now()
    Refusal.objects.bulk_create(
        Refusal(
            source=source,
            received_at=received_at,
            index=item.index,
            code=item.code,
            message=item.message,
            message_id=item.message_id,
            excerpt=item.excerpt,
        )
        for item in refused
    )


def refusals_prune(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - settings.INGEST_REFUSAL_RETENTION
    deleted, _ = Refusal.objects.filter(received_at__lt=cutoff).delete()
    return deleted


# --- follow-up processing ------------------------------------------------------------------


def events_publish_processing(*, event_ids: list[int]) -> bool:
    """Hand stored events to the workers. Never raises: the events are already safe in
    Postgres, and the periodic sweep processes whatever is not published."""
    # Named in the worker's log by size: a repr of every id costs more than the publish.
    return task_publish(
        "ingestion.process_events", args=[event_ids], argsrepr=f"[{len(event_ids)} event ids]"
    )


def _processors() -> list[Callable[[list[Event]], None]]:
    return [import_string(path) for path in settings.INGEST_EVENT_PROCESSORS]


# Postgres' codes for a transaction it ended so that another could go on: deadlock_detected
# and serialization_failure. Such a transaction is tried again, as Postgres advises.
_RETRIED_SQLSTATES = {"40P01", "40001"}
PROCESS_ATTEMPTS = 4


def events_process(*, event_ids: Sequence[int]) -> int:
    """Run the follow-up work on the given events that nobody has processed yet.

    Rows are locked with SKIP LOCKED, so a task and the sweep (or two workers) never
    process the same event twice; the processors and the mark commit together. A batch
    that Postgres ends to break a deadlock is tried again at once, a few times, before
    its task fails and the sweep takes it over.
    """
    attempt = 1
    while True:
        try:
            return _events_process_once(event_ids)
        except OperationalError as exc:
            code = sqlstate(exc)
            if (
                code not in _RETRIED_SQLSTATES
                or attempt == PROCESS_ATTEMPTS
                or connection.in_atomic_block
            ):
                raise
            logger.info(
                "ingest_processing_retried attempt=%d sqlstate=%s events=%d",
                attempt,
                code,
                len(event_ids),
            )
        # Apart, so the two sides of a deadlock do not meet again at once.
        time.sleep(random.uniform(0.02, 0.1) * attempt)
        attempt += 1


def _events_process_once(event_ids: Sequence[int]) -> int:
    # The events are read by primary key alone, and the processed ones left out in Python:
    # with `processed_at IS NULL` in the query, a planner that believes few events
    # unprocessed (its statistics, gathered while the workers kept up) combines the primary
    # key with the `event_unprocessed` index, and reads that whole index, the entire
    # backlog, for every batch: the larger the backlog, the slower it would drain.
    with transaction.atomic():
        # Merges and deletions lock profiles before the events they move or delete: so does
        # this, in id order, or the two would wait for each other. Only the events this
        # first read finds unprocessed are locked below, so no event is locked whose
        # profile is not.
        pending: list[int] = []
        locked: set[int] = set()
        for pk, profile_id, processed_at in Event.objects.filter(
            pk__in=list(event_ids)
        ).values_list("pk", "profile_id", "processed_at"):
            if processed_at is None:
                pending.append(pk)
                if profile_id is not None:
                    locked.add(profile_id)
        if not pending:
            return 0
        people_lock(locked)
        events = [
            event
            for event in Event.objects.select_for_update(skip_locked=True)
            .filter(pk__in=pending)
            .order_by("pk")
            # Processed by another worker between the two reads.
            if event.processed_at is None
        ]
        if not events:
            return 0
        # A merge may have moved some of these events to another profile between the two
        # reads: that profile is locked now, before the processors take shared catalog rows,
        # so no processor takes a profile lock after them.
        moved = {event.profile_id for event in events if event.profile_id} - locked
        if moved:
            people_lock(moved)
        failed = _run_processors(events)
        Event.objects.filter(pk__in=[event.pk for event in events]).update(
            processed_at=timezone.now()
        )
        if failed:
            Event.objects.filter(pk__in=failed).update(
                flags=Func(F("flags"), Value('["processing_failed"]'), function="jsonb_concat")
            )
    return len(events)


def _run_processors(events: list[Event]) -> list[int]:
    """Run the processors on a batch; returns the ids of events they failed on.

    A transient database error (a lost connection, a deadlock) is raised, so the task fails
    and the sweep retries the events later. Any other error is a bad event: the batch is
    retried one event at a time, and only the events that still fail are set aside,
    flagged `processing_failed` and logged, so one poisoned event never holds up the rest.
    """
    try:
        with transaction.atomic():
            for processor in _processors():
                processor(events)
        return []
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        if len(events) == 1:
            logger.exception("ingest_processing_failed event=%s", events[0].pk)
            return [events[0].pk]
    failed = []
    for event in events:
        failed += _run_processors([event])
    return failed


def events_sweep_unprocessed(*, now: datetime | None = None, limit: int = 20_000) -> int:
    """Process events left unprocessed past the grace period (a broker outage, a lost
    task). Runs from Celery beat; bounded per run so one run never holds a worker long."""
    cutoff = (now or timezone.now()) - settings.INGEST_SWEEP_GRACE
    total = 0
    while total < limit:
        ids = list(
            Event.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
            .order_by("received_at")
            .values_list("pk", flat=True)[:1000]
        )
        if not ids:
            break
        processed = events_process(event_ids=ids)
        if processed == 0:
            break  # locked by another worker
        total += processed
    if total:
        logger.info("ingest_sweep_processed events=%d", total)
    return total
