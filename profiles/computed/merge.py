"""A merge's computed values: the merged profile's folded into the survivor's exactly."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from profiles.computed.engagement import ENGAGEMENT_WEEKS_KEPT, engagement_sum
from profiles.computed.fold import top_counts
from profiles.computed.orders import order_totals_into
from profiles.computed.traits import profile_name
from profiles.models import ConsentChange, Profile


def profile_computed_merge(*, survivor: Profile, loser: Profile) -> None:
    """Fold the merged profile's computed values into the survivor's (its orders, notes and
    consent history have moved already). Every value combines exactly: counts add,
    first/last seen take min/max, the newer consent wins, preferences add, the engagement
    score is decayed to the later time and added."""
    survivor.event_count += loser.event_count
    for name, pick in (("first_seen", min), ("last_seen", max)):
        values = [v for v in (getattr(survivor, name), getattr(loser, name)) if v is not None]
        setattr(survivor, name, pick(values) if values else None)
    for channel in ConsentChange.Channel.values:
        theirs = getattr(loser, f"{channel}_consent_at")
        ours = getattr(survivor, f"{channel}_consent_at")
        same = getattr(loser, f"{channel}_consent") == getattr(survivor, f"{channel}_consent")
        # A newer decision wins; the same decision counts from when it was first given.
        if theirs is not None and (ours is None or (theirs < ours if same else theirs > ours)):
            setattr(survivor, f"{channel}_consent", getattr(loser, f"{channel}_consent"))
            setattr(survivor, f"{channel}_consent_at", theirs)
    preferences = {}
    for dimension in ("categories", "brands"):
        counts = dict(survivor.preferences.get(dimension, {}))
        for key, value in loser.preferences.get(dimension, {}).items():
            counts[key] = round(counts.get(key, 0) + value, 3)
        if counts:
            preferences[dimension] = top_counts(counts)
    survivor.preferences = preferences
    viewed = {entry["key"]: entry["at"] for entry in survivor.last_viewed}
    for entry in loser.last_viewed:
        if viewed.get(entry["key"], "") < entry["at"]:
            viewed[entry["key"]] = entry["at"]
    newest = sorted(viewed.items(), key=lambda kv: kv[1], reverse=True)
    survivor.last_viewed = [
        {"key": k, "at": at} for k, at in newest[: settings.PROFILE_LAST_VIEWED]
    ]
    survivor.engagement_score, survivor.engagement_at = engagement_sum(
        (survivor.engagement_score, survivor.engagement_at),
        (loser.engagement_score, loser.engagement_at),
    )
    weeks = dict(survivor.engagement_weeks)
    for week, points in loser.engagement_weeks.items():
        weeks[week] = round(weeks.get(week, 0) + points, 3)
    survivor.engagement_weeks = dict(sorted(weeks.items())[-ENGAGEMENT_WEEKS_KEPT:])
    survivor.name = profile_name(survivor.traits)
    order_totals_into([survivor])
    survivor.computed_at = timezone.now()
