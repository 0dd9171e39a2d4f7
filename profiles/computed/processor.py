"""The ingest processor: each stored batch folded into its profiles.

It locks the batch's profiles once, in id order, folds the batch into each of them in memory
(fold.py) and writes them back with one statement; orders are upserted set-based
(orders.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from django.db.models import Field
from django.utils import timezone

from cdp_project.core.jsontext import json_text
from cdp_project.core.prepared import prepared_cursor
from ingestion.models import CommerceRole, Event
from profiles.columns import sql_type
from profiles.computed.activities import activity_key, activity_meanings
from profiles.computed.fields import COMPUTED_FIELDS
from profiles.computed.fold import ProfileFold, items_by_event, source_names_of
from profiles.computed.orders import (
    ORDER_ROLES,
    OrderEvent,
    order_event,
    order_totals_into,
    orders_apply,
    orders_owners,
)
from profiles.models import ConsentChange, Profile

Role = CommerceRole


def profiles_update(events: Sequence[Event]) -> None:
    """The ingest processor: fold a batch of stored events into their profiles."""
    events = [event for event in events if event.profile_id is not None]
    if not events:
        return
    events.sort(key=lambda e: (e.timestamp, e.pk))
    meanings = activity_meanings(events)
    items = items_by_event(events, meanings)
    orders: list[OrderEvent] = []
    for event in events:
        meaning = meanings.get(activity_key(event))
        if meaning and meaning.role in ORDER_ROLES:
            order = order_event(event, meaning.role)
            if order:
                orders.append(order)
    # A refund or cancellation changes the totals of the order's owner, who may be another
    # profile than the event's: it is locked with the batch's own.
    owners = orders_owners(
        sorted({o.order_id for o in orders if o.role != Role.ORDER_COMPLETED})
    ).values()
    profile_ids = sorted({_profile_of(event) for event in events} | set(owners))
    # Locked in id order, so two workers folding overlapping batches cannot deadlock.
    profiles = {
        p.pk: p
        # NO KEY UPDATE (only non-key columns change): an ingest committing events of these
        # profiles checks their foreign keys with KEY SHARE, which this lock does not block.
        for p in Profile.objects.select_for_update(no_key=True)
        .filter(pk__in=profile_ids)
        .order_by("pk")
    }
    source_names = source_names_of(events)
    folds = {
        pk: ProfileFold(profile, source_names=source_names) for pk, profile in profiles.items()
    }
    for event in events:
        fold = folds.get(_profile_of(event))
        if fold is None:
            continue  # deleted since
        fold.fold(event, meanings.get(activity_key(event)), items.get(event.pk, []))
    orders = [o for o in orders if o.profile_id in profiles]
    if orders:
        orders_apply(orders)
        touched = {o.profile_id for o in orders} | set(owners)
        order_totals_into([profiles[pk] for pk in sorted(touched) if pk in profiles])
    now = timezone.now()
    for fold in folds.values():
        fold.profile.computed_at = now
    profiles_write(list(profiles.values()))
    consent = [change for fold in folds.values() for change in fold.changes.consent]
    if consent:
        ConsentChange.objects.bulk_create(consent)


def _profile_of(event: Event) -> int:
    """The profile of an event `profiles_update` folds: it keeps only events of a profile."""
    assert event.profile_id is not None
    return event.profile_id


def profiles_write(profiles: Sequence[Profile]) -> None:
    """Write the computed fields of many profiles in one statement.

    `UPDATE … FROM jsonb_to_recordset(…)` rather than `bulk_update`: the latter writes one
    `CASE WHEN id = …` per profile and field, which Postgres evaluates row by row, so its
    cost grows with the square of the batch. The rows travel as one JSON document, encoded
    in C: arrays would be quoted value by value in Python.
    """
    if not profiles:
        return
    rows = [{"id": p.pk, **{f.column: getattr(p, f.attname) for f in _WRITTEN}} for p in profiles]
    with prepared_cursor() as cursor:
        cursor.execute(_WRITE_PROFILES, [json_text(rows)])


# The computed fields are the profile's own columns, never a relation.
_WRITTEN = [cast(Field, Profile._meta.get_field(name)) for name in COMPUTED_FIELDS]


# Column names and types come from the model, never from input.
_WRITE_PROFILES = f"""
    UPDATE profiles_profile p SET {", ".join(f"{f.column} = t.{f.column}" for f in _WRITTEN)}
    FROM jsonb_to_recordset(%s::jsonb)
        AS t(id bigint, {", ".join(f"{f.column} {sql_type(f)}" for f in _WRITTEN)})
    WHERE p.id = t.id
"""  # noqa: S608
