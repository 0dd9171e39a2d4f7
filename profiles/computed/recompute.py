"""Whole-history recompute: a profile's stored events folded again through the same code as
the processor, for repairs, after an activity's points change, and for the tests that hold
the two equal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ingestion.models import Activity, Event
from profiles.computed.activities import activity_key, activity_meanings
from profiles.computed.fields import COMPUTED_FIELDS, ENGAGEMENT_FIELDS
from profiles.computed.fold import ProfileFold, items_by_event, source_names_of
from profiles.computed.orders import order_totals_into
from profiles.models import Consent, ConsentChange, Profile


@transaction.atomic
def profile_recompute(
    *, profile_id: int, only: Sequence[str] | None = None, chunk: int = 2000
) -> Profile:
    """Fold a profile's stored history again, through the same code as the processor: all
    its computed attributes, or `only` some (the engagement, after an activity's points
    changed). The profile row is locked first: a processor folding new events into it
    waits, and its events, not yet marked processed, are not counted here.

    What events no longer show stays as it was: traits are folded on top of the ones kept
    (newest still wins, so the same events give the same values), and consent is what its
    history says last, which holds what a marketer recorded on the profile page too.
    """
    profile = Profile.objects.select_for_update(no_key=True).get(pk=profile_id)
    fresh = Profile(
        pk=profile.pk, traits=dict(profile.traits), trait_times=dict(profile.trait_times)
    )
    fold = ProfileFold(fresh, source_names={})
    events = (
        Event.objects.filter(profile_id=profile_id, processed_at__isnull=False)
        .order_by("timestamp", "pk")
        .iterator(chunk_size=chunk)
    )
    batch: list[Event] = []
    for event in events:
        batch.append(event)
        if len(batch) >= chunk:
            _fold_batch(fold, batch)
            batch = []
    _fold_batch(fold, batch)
    # Consent as its history says: the last decision, since the first time it was given.
    state: dict[str, tuple[str, datetime | None]] = {
        channel: (Consent.UNKNOWN, None) for channel in ConsentChange.Channel.values
    }
    history = ConsentChange.objects.filter(profile_id=profile_id).order_by("at", "pk")
    for change in history.only("channel", "state", "at"):
        if state[change.channel][0] != change.state:
            state[change.channel] = (change.state, change.at)
    for channel, (decision, since) in state.items():
        setattr(fresh, f"{channel}_consent", decision)
        setattr(fresh, f"{channel}_consent_at", since)
    order_totals_into([fresh])
    fields = list(only) if only else [f for f in COMPUTED_FIELDS if f != "computed_at"]
    for name in fields:
        setattr(profile, name, getattr(fresh, name))
    profile.computed_at = timezone.now()
    profile.save(update_fields=[*fields, "computed_at"])
    return profile


def profiles_recompute_stale() -> int:
    """Compute the attributes of profiles whose events were processed before computed
    attributes existed (a database from an earlier version); `make run` calls it on start."""
    stale = (
        Profile.objects.filter(computed_at__isnull=True, events__processed_at__isnull=False)
        .values_list("pk", flat=True)
        .distinct()
    )
    count = 0
    for profile_id in stale.iterator():
        profile_recompute(profile_id=profile_id)
        count += 1
    return count


def _fold_batch(fold: ProfileFold, events: list[Event]) -> None:
    if not events:
        return
    fold.source_names = source_names_of(events)
    meanings = activity_meanings(events)
    items = items_by_event(events, meanings)
    for event in events:
        fold.fold(event, meanings.get(activity_key(event)), items.get(event.pk, []))
    # Consent history is already stored; a recompute only restates the current state.
    fold.changes.consent.clear()


def engagement_points_changed(*, activity_ids: Sequence[int]) -> int:
    """Recompute the profiles that did the given activities, after their points changed."""
    keys = list(Activity.objects.filter(pk__in=activity_ids).values_list("kind", "name"))
    condition = Q()
    for kind, name in keys:
        condition |= Q(type=kind, name=name) if kind == "track" else Q(type=kind)
    if not keys:
        return 0
    profile_ids = (
        Event.objects.filter(condition, profile__isnull=False)
        .values_list("profile_id", flat=True)
        .distinct()
    )
    count = 0
    for profile_id in profile_ids.iterator():
        profile_recompute(profile_id=profile_id, only=ENGAGEMENT_FIELDS)
        count += 1
    return count
