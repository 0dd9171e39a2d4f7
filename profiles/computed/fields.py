"""The profile fields this package computes: what the processor writes on a profile, and the
computed attributes proper that admin shows."""

from __future__ import annotations

# The computed attributes proper, in the order admin shows them.
ATTRIBUTE_FIELDS = [
    "first_seen",
    "last_seen",
    "event_count",
    "orders_count",
    "revenue",
    "average_order_value",
    "last_order_at",
    "preferences",
    "last_viewed",
    "engagement_score",
    "engagement_at",
    "engagement_weeks",
]


# Everything the processor writes on a profile.
COMPUTED_FIELDS = [
    "name",
    "traits",
    "trait_times",
    "email_consent",
    "email_consent_at",
    "sms_consent",
    "sms_consent_at",
    *ATTRIBUTE_FIELDS,
    "computed_at",
]


ENGAGEMENT_FIELDS = ("engagement_score", "engagement_at", "engagement_weeks")
