"""The values of a row: dates, amounts, ids, consent and traits, each refused with a reason
a marketer can act on."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from ingestion.catalog.products import parse_price
from profiles.imports.files import normalise

# Dates before this are refused as mistakes (a year typed as 0021, an empty date read as 0).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_NUMBER = re.compile(r"^-?(?:0|[1-9]\d{0,14})(?:\.\d{1,6})?$")
_CURRENCY_SIGNS = "$€£¥₹₩₽ "
# Traits kept as text even when they look like numbers: leading zeros and "+" matter.
_TEXT_TRAITS = re.compile(r"(^|_)(phone|mobile|tel|zip|zipcode|postcode|postal_code|id|sku)$")
# Anonymous ids made for customers known by email only: stable, so the profile and the
# order imports of one email meet on one profile.
_EMAIL_NAMESPACE = uuid.UUID("6f1c8c3e-2f5b-4a8e-9a57-3c1de0a5b0f1")


class Invalid(Exception):
    """A value of a row that cannot be imported; the row is refused with this reason."""


def parse_when(value: str, column: str) -> datetime | None:
    """A date or a date-time: ISO 8601 (`2024-03-01`, `2024-03-01 14:05`, with or without
    an offset, `Z` or `UTC`), or `2024/03/01`. Without an offset it is the site's time."""
    if not value:
        return None
    text = re.sub(r"\s*(UTC|GMT|Z)$", "+00:00", value.strip(), flags=re.IGNORECASE)
    text = re.sub(r"\s+([+-]\d{2}:?\d{2})$", r"\1", text)
    slashed = re.match(r"^(\d{4})/(\d{1,2})/(\d{1,2})(.*)$", text)
    if slashed:
        year, month, day, rest = slashed.groups()
        text = f"{year}-{int(month):02d}-{int(day):02d}{rest}"
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(text)
    except ValueError:
        ambiguous = re.match(r"^\d{1,2}[/.-]\d{1,2}[/.-]", text)
        hint = " (day and month are ambiguous)" if ambiguous else ""
        raise Invalid(
            f"{column} “{value[:40]}” is not a date we can read{hint}; use YYYY-MM-DD "
            "or YYYY-MM-DD HH:MM."
        ) from None
    if parsed.tzinfo is None:
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    parsed = parsed.astimezone(UTC)
    if parsed < EARLIEST:
        raise Invalid(f"{column} “{value[:40]}” is before 1970.")
    if parsed > timezone.now() + settings.INGEST_FUTURE_TOLERANCE:
        raise Invalid(f"{column} “{value[:40]}” is in the future.")
    return parsed


def parse_amount(value: str, column: str) -> Decimal | None:
    if not value:
        return None
    if re.fullmatch(r"[^\d]*\d{1,3},\d{3}", value.strip()):
        raise Invalid(
            f"{column} “{value[:40]}” can be read as thousands or as decimals: write it "
            "without the comma, or with a decimal point (1299 or 1.299)."
        )
    amount = parse_price(value.strip(_CURRENCY_SIGNS))
    if amount is None:
        raise Invalid(f"{column} “{value[:40]}” is not a number (or is negative).")
    return amount


def parse_quantity(value: str) -> int | None:
    if not value:
        return None
    amount = parse_price(value)
    if amount is None or amount != amount.to_integral_value() or amount < 1:
        raise Invalid(f"quantity “{value[:40]}” is not a whole number of 1 or more.")
    return int(amount)


def parse_currency(value: str) -> str:
    if not value:
        return ""
    if not _CURRENCY.match(value):
        raise Invalid(f"currency “{value[:40]}” is not a three-letter code such as USD or EUR.")
    return value.upper()


def parse_email(value: str) -> str:
    if not value:
        return ""
    try:
        validate_email(value)
    except ValidationError:
        raise Invalid(f"email “{value[:60]}” is not an email address.") from None
    return value


def parse_id(value: str, column: str) -> str:
    if len(value) > 255:
        raise Invalid(f"{column} is longer than 255 characters.")
    return value


_GRANTED = {"yes", "y", "true", "1", "granted", "opted_in", "opt_in", "subscribed", "on"}
_WITHDRAWN = {"no", "n", "false", "0", "withdrawn", "opted_out", "opt_out", "unsubscribed", "off"}


def parse_consent(value: str, column: str) -> str:
    if not value:
        return ""
    word = normalise(value)
    if word in _GRANTED:
        return "granted"
    if word in _WITHDRAWN:
        return "withdrawn"
    raise Invalid(
        f"{column} “{value[:40]}” is not one of yes/no, true/false, granted/withdrawn, "
        "opted_in/opted_out, subscribed/unsubscribed."
    )


def trait_value(name: str, value: str) -> Any:
    """Numbers and true/false as JSON values, so segments compare them as such; ids,
    phone numbers and postal codes stay text whatever they look like."""
    if _TEXT_TRAITS.search(name):
        return value
    if _NUMBER.match(value):
        return float(value) if "." in value else int(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def json_number(amount: Decimal) -> int | float:
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def anonymous_id_for_email(email: str) -> str:
    """The anonymous id an import gives a customer it knows by email only."""
    return f"csv-{uuid.uuid5(_EMAIL_NAMESPACE, email.strip().lower())}"


def digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def message_ids(*, user_id: str, email: str, anonymous_id: str) -> dict[str, str]:
    ids = {}
    if user_id:
        ids["userId"] = user_id
    if anonymous_id:
        ids["anonymousId"] = anonymous_id
    elif not user_id:
        ids["anonymousId"] = anonymous_id_for_email(email)
    return ids
