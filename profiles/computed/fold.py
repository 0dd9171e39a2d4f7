"""The fold: events, oldest first, into one profile's traits, consent, counts and times,
engagement, preferences and recently viewed products, in memory. The processor and the
recompute both run it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings

from ingestion.catalog.products import products_in_event
from ingestion.models import CommerceRole, Event, Product, Source
from profiles.computed.activities import ActivityMeaning, ActivityMeanings, activity_key
from profiles.computed.consent import CONSENT_TRAITS, consent_state
from profiles.computed.engagement import ENGAGEMENT_WEEKS_KEPT, decay, week_of
from profiles.computed.traits import profile_name
from profiles.models import ConsentChange, Profile

Role = CommerceRole


# How much an item counts towards preferences.
PREFERENCE_WEIGHTS: dict[str, float] = {
    # A list shows many products the person did not choose: each counts half a view.
    Role.PRODUCT_LIST_VIEWED: 0.5,
    Role.PRODUCT_VIEWED: 1.0,
    Role.ORDER_COMPLETED: 3.0,
}


PREFERENCES_KEPT = 20


@dataclass
class _Changes:
    """What a batch did to one profile besides its own fields."""

    consent: list[ConsentChange] = field(default_factory=list)
    orders_touched: bool = False


class ProfileFold:
    """Folds events, oldest first, into one profile's traits, consent and computed values.

    Every step is order-independent where it matters: traits and consent keep the value with
    the newest event time, counts add, first/last seen take min/max, and the engagement score
    is kept as of its newest event, so a late-arriving older event decays in correctly.
    """

    def __init__(self, profile: Profile, *, source_names: dict[int, str]) -> None:
        self.profile = profile
        self.source_names = source_names
        self.changes = _Changes()

    def fold(
        self,
        event: Event,
        meaning: ActivityMeaning | None,
        items: Sequence[Any],
    ) -> None:
        profile, at = self.profile, event.timestamp
        profile.event_count += 1
        profile.first_seen = at if profile.first_seen is None else min(profile.first_seen, at)
        profile.last_seen = at if profile.last_seen is None else max(profile.last_seen, at)
        if event.type == "identify" and isinstance(event.traits, dict):
            self._traits(event)
        if meaning is None:
            return
        self._engagement(at, meaning.points)
        weight = PREFERENCE_WEIGHTS.get(meaning.role)
        if weight:
            self._preferences(items, weight)
        if meaning.role == Role.PRODUCT_VIEWED:
            self._viewed(items, at)

    def _traits(self, event: Event) -> None:
        profile, at = self.profile, event.timestamp
        stamp = at.isoformat()
        traits, times = dict(profile.traits), dict(profile.trait_times)
        for key, value in event.traits.items():
            if key in times and times[key] > stamp:
                continue
            traits[key], times[key] = value, stamp
        profile.traits, profile.trait_times = traits, times
        profile.name = profile_name(traits)
        for channel, keys in CONSENT_TRAITS.items():
            for key in keys:
                if key not in event.traits:
                    continue
                state = consent_state(event.traits[key])
                if state is not None:
                    self._consent(channel, state, at, f"{key} trait", event)
                break

    def _consent(self, channel: str, state: str, at: datetime, how: str, event: Event) -> None:
        profile = self.profile
        current_at = getattr(profile, f"{channel}_consent_at")
        if current_at is not None and current_at > at:
            return  # a newer decision stands
        if getattr(profile, f"{channel}_consent") == state and current_at is not None:
            return  # said again: the first time it was given is what counts
        setattr(profile, f"{channel}_consent", state)
        setattr(profile, f"{channel}_consent_at", at)
        source = self.source_names.get(event.source_id, "")
        self.changes.consent.append(
            ConsentChange(
                profile_id=profile.pk,
                channel=channel,
                state=state,
                at=at,
                how=f"{how} on identify from {source}" if source else f"{how} on identify",
                message_id=event.message_id,
            )
        )

    def _engagement(self, at: datetime, points: float) -> None:
        profile = self.profile
        if not points:
            return
        if profile.engagement_at is None:
            profile.engagement_score, profile.engagement_at = points, at
        elif at <= profile.engagement_at:
            days = (profile.engagement_at - at).total_seconds() / 86400
            profile.engagement_score += points * decay(days)
        else:
            days = (at - profile.engagement_at).total_seconds() / 86400
            profile.engagement_score = profile.engagement_score * decay(days) + points
            profile.engagement_at = at
        weeks = dict(profile.engagement_weeks)
        week = week_of(at)
        weeks[week] = round(weeks.get(week, 0) + points, 3)
        profile.engagement_weeks = dict(sorted(weeks.items())[-ENGAGEMENT_WEEKS_KEPT:])

    def _preferences(self, items: Sequence[Any], weight: float) -> None:
        preferences = {
            "categories": dict(self.profile.preferences.get("categories", {})),
            "brands": dict(self.profile.preferences.get("brands", {})),
        }
        changed = False
        for item in items:
            for dimension, value in (("categories", item.category), ("brands", item.brand)):
                if value:
                    counts = preferences[dimension]
                    counts[value] = round(counts.get(value, 0) + weight, 3)
                    changed = True
        if changed:
            self.profile.preferences = {
                dimension: top_counts(counts) for dimension, counts in preferences.items() if counts
            }

    def _viewed(self, items: Sequence[Any], at: datetime) -> None:
        if not items:
            return
        viewed = {entry["key"]: entry["at"] for entry in self.profile.last_viewed}
        stamp = at.isoformat()
        for item in items:
            if viewed.get(item.key, "") < stamp:
                viewed[item.key] = stamp
        newest = sorted(viewed.items(), key=lambda kv: kv[1], reverse=True)
        self.profile.last_viewed = [
            {"key": key, "at": when} for key, when in newest[: settings.PROFILE_LAST_VIEWED]
        ]


def top_counts(counts: dict[str, float]) -> dict[str, float]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(ranked[:PREFERENCES_KEPT])


@dataclass
class _Item:
    key: str
    category: str
    brand: str


def items_by_event(events: Sequence[Event], meanings: ActivityMeanings) -> dict[int, list[_Item]]:
    """Each product event's items, with category and brand filled from the product catalog
    where the event left them out (one query)."""
    wanted = set(PREFERENCE_WEIGHTS)
    found: dict[int, list[Any]] = {}
    for event in events:
        meaning = meanings.get(activity_key(event))
        if meaning and meaning.role in wanted:
            found[event.pk] = products_in_event(event)
    missing = {v.key for values in found.values() for v in values if not (v.category and v.brand)}
    catalog = {}
    if missing:
        catalog = {
            p.key: p
            for p in Product.objects.filter(key__in=missing).only("key", "category", "brand")
        }
    items: dict[int, list[_Item]] = {}
    for event_id, values in found.items():
        items[event_id] = []
        for v in values:
            known = catalog.get(v.key)
            items[event_id].append(
                _Item(
                    key=v.key,
                    category=v.category or (known.category if known else ""),
                    brand=v.brand or (known.brand if known else ""),
                )
            )
    return items


def source_names_of(events: Sequence[Event]) -> dict[int, str]:
    if not any(event.type == "identify" for event in events):
        return {}
    ids = {event.source_id for event in events if event.type == "identify"}
    return dict(Source.objects.filter(pk__in=ids).values_list("pk", "name"))
