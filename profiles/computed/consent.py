"""Consent carried by identify traits: which traits say it, per channel, and what their
values mean."""

from __future__ import annotations

from typing import Any

from profiles.models import Consent, ConsentChange

# Identify traits that carry consent, per channel; the first one present wins.
CONSENT_TRAITS = {
    ConsentChange.Channel.EMAIL: (
        "email_consent",
        "email_opt_in",
        "email_subscribed",
        "accepts_marketing",
    ),
    ConsentChange.Channel.SMS: ("sms_consent", "sms_opt_in", "sms_subscribed"),
}


_GRANTED = {"true", "yes", "y", "1", "granted", "opted_in", "opt_in", "subscribed", "on"}


_WITHDRAWN = {"false", "no", "n", "0", "withdrawn", "opted_out", "opt_out", "unsubscribed", "off"}


def consent_state(value: Any) -> str | None:
    """What a consent trait's value says: granted, withdrawn, or nothing we understand."""
    if isinstance(value, bool):
        return Consent.GRANTED if value else Consent.WITHDRAWN
    if isinstance(value, int | float) and value in (0, 1):
        return Consent.GRANTED if value else Consent.WITHDRAWN
    if isinstance(value, str):
        text = value.strip().lower().replace("-", "_").replace(" ", "_")
        if text in _GRANTED:
            return Consent.GRANTED
        if text in _WITHDRAWN:
            return Consent.WITHDRAWN
    return None
