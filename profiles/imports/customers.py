"""Customers from CSV: one identify per row (and one per dated consent)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, BinaryIO

from profiles.imports.files import aliases, open_csv
from profiles.imports.pipeline import Pipeline, Record, message_context
from profiles.imports.report import ImportRefused, ImportReport
from profiles.imports.values import (
    Invalid,
    digest,
    iso,
    message_ids,
    parse_consent,
    parse_email,
    parse_id,
    parse_when,
    trait_value,
)

PROFILE_ALIASES = aliases(
    {
        "email": "e_mail mail email_address e_mail_address",
        "user_id": "userid user customer_id customerid external_id id",
        "anonymous_id": "anonymousid",
        "first_name": "firstname given_name forename",
        "last_name": "lastname surname family_name",
        "name": "full_name",
        "phone": "phone_number mobile mobile_phone mobile_number telephone tel",
        "email_consent": (
            "email_opt_in email_optin email_subscribed accepts_marketing "
            "accepts_email_marketing email_marketing email_marketing_consent newsletter"
        ),
        "sms_consent": (
            "sms_opt_in sms_optin sms_subscribed accepts_sms accepts_sms_marketing "
            "sms_marketing sms_marketing_consent"
        ),
        "consent_date": "consent_at consent_updated_at opt_in_date",
        "email_consent_date": "email_consent_at email_opt_in_date accepts_marketing_updated_at",
        "sms_consent_date": "sms_consent_at sms_opt_in_date",
        "created_at": (
            "created creation_date date_created signup_date signed_up_at registered_at "
            "customer_since"
        ),
        "updated_at": "updated last_updated modified_at date_modified",
    }
)
PROFILE_ID_COLUMNS = ("user_id", "email", "anonymous_id")
_PROFILE_NOT_TRAITS = {
    "user_id",
    "anonymous_id",
    "email_consent",
    "sms_consent",
    "consent_date",
    "email_consent_date",
    "sms_consent_date",
    "updated_at",
}
PROFILE_SAMPLE_HEADER = (
    "user_id,email,first_name,last_name,phone,email_consent,sms_consent,consent_date,created_at"
)


def _profile_messages(values: dict[str, str]) -> list[dict[str, Any]]:
    user_id = parse_id(values.get("user_id", ""), "user_id")
    anonymous_id = parse_id(values.get("anonymous_id", ""), "anonymous_id")
    email = parse_email(values.get("email", ""))
    if not (user_id or email or anonymous_id):
        raise Invalid("The row has no user_id, email or anonymous_id.")
    created = parse_when(values.get("created_at", ""), "created_at")
    updated = parse_when(values.get("updated_at", ""), "updated_at")
    consent = {
        channel: parse_consent(values.get(f"{channel}_consent", ""), f"{channel}_consent")
        for channel in ("email", "sms")
    }
    shared_date = parse_when(values.get("consent_date", ""), "consent_date")
    consent_dates = {
        channel: parse_when(values.get(f"{channel}_consent_date", ""), f"{channel}_consent_date")
        or shared_date
        for channel in ("email", "sms")
    }
    traits: dict[str, Any] = {}
    for name, value in values.items():
        if value and name not in _PROFILE_NOT_TRAITS:
            traits[name] = trait_value(name, value)
    if created:
        traits["created_at"] = iso(created)

    ids = message_ids(user_id=user_id, email=email, anonymous_id=anonymous_id)
    base: dict[str, Any] = {"type": "identify", **ids, "traits": traits}
    at = updated or created
    if at:
        base["timestamp"] = iso(at)
    # Consent with a date of its own is an identify at that date, so the consent history
    # says when it was given; consent without one goes with the other traits.
    by_date: dict[datetime, dict[str, str]] = {}
    for channel, state in consent.items():
        if not state:
            continue
        when = consent_dates[channel]
        if when is None or when == at:
            traits[f"{channel}_consent"] = state
        else:
            by_date.setdefault(when, {})[f"{channel}_consent"] = state
    messages = [base] if traits or not by_date else []
    for when, consent_traits in sorted(by_date.items()):
        messages.append(
            {"type": "identify", **ids, "traits": consent_traits, "timestamp": iso(when)}
        )
    for message in messages:
        message["messageId"] = f"csv-profile-{digest(message)}"
        message["context"] = message_context()
    return messages


def profiles_import_csv(
    *,
    data: BinaryIO,
    max_bytes: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import customers: one per row, with ids, traits and consent.

    Columns: `user_id`, `email`, `anonymous_id` (at least one per row); `email_consent`,
    `sms_consent` and their dates; `created_at`, `updated_at`; every other column is a
    trait. Rows with an error are reported by line and skipped.
    """
    parsed = open_csv(data, aliases=PROFILE_ALIASES, max_bytes=max_bytes)
    if not set(PROFILE_ID_COLUMNS) & set(parsed.columns):
        raise ImportRefused(
            "The header row needs a user_id, email or anonymous_id column; found: "
            + ", ".join(h for h in parsed.headers if h)[:300]
            + "."
        )
    report = ImportReport(kind="profiles")
    report.ignored_columns = [
        h for h, c in zip(parsed.headers, parsed.columns, strict=True) if h and not c
    ]
    pipeline = Pipeline(report, on_progress)
    for line, values in parsed.rows(data):
        report.rows += 1
        if isinstance(values, str):
            report.refuse(line, values)
            continue
        try:
            messages = _profile_messages(values)
        except Invalid as invalid:
            report.refuse(line, str(invalid))
            continue
        pipeline.add(
            Record(lines=[line], messages=messages, counted={m["messageId"] for m in messages})
        )
    pipeline.flush()
    return report
