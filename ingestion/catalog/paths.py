"""Property paths, type inference and example values: how the catalog reads a payload.

A path names a field inside a payload the way segments and templates will name it:
`category`, `address.city`, `products[].price` (a field of every item of an array),
`tags[]` (the items of an array of scalars). A key that itself contains `.`, `[`, `]` or
`\\` has those characters escaped with a backslash: the key `a.b` is the path `a\\.b`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

ARRAY_STEP = "[]"
_SPECIAL = re.compile(r"([.\[\]\\])")
# ISO-8601 dates and date-times, as JSON payloads carry them ("2026-11-25",
# "2026-11-25T10:00:00Z", "2026-11-25 10:00:00.123+01:00").
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)?)?$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A phone number as people write one: an optional +, digits and separators.
_PHONE = re.compile(r"^\+?[\d\s().-]{7,24}$")
_PHONE_KEYS = ("phone", "mobile", "tel", "sms", "whatsapp")
# Keys that name personal data; fields under them start out marked personal.
PERSONAL_KEYS = frozenset(
    {
        "email",
        "phone",
        "phonenumber",
        "mobile",
        "firstname",
        "lastname",
        "fullname",
        "birthday",
        "birthdate",
        "dateofbirth",
        "dob",
        "address",
        "street",
        "streetaddress",
        "postalcode",
        "zip",
        "zipcode",
        "ip",
        "ipaddress",
        "password",
        "ssn",
    }
)
EXAMPLE_MAX_LENGTH = 120
# The longest path the catalog stores (the column's length); longer ones are not listed.
MAX_PATH_LENGTH = 512


def escape_key(key: str) -> str:
    # Nearly every key has nothing to escape: a search in C spares it the substitution's
    # template, expanded in Python for every match.
    return _SPECIAL.sub(r"\\\1", key) if _SPECIAL.search(key) else key


def path_join(parent: str, key: str) -> str:
    return f"{parent}.{escape_key(key)}" if parent else escape_key(key)


def path_parse(path: str) -> list[str | None]:
    """The steps of a path: a key, or None for "each item of the array".

    Raises ValueError for a malformed path, so that a path typed by hand or sent by a
    client is checked before anything uses it.
    """
    steps: list[str | None] = []
    key: list[str] = []
    in_key = False  # a key has started (it may be the empty key)
    index = 0
    while index < len(path):
        char = path[index]
        if char == "\\":
            if index + 1 >= len(path):
                raise ValueError(f"The path {path!r} ends with a lone backslash.")
            key.append(path[index + 1])
            in_key = True
            index += 2
            continue
        if char == ".":
            if not in_key and (not steps or steps[-1] is not None):
                raise ValueError(f"The path {path!r} has an empty key.")
            if in_key:
                steps.append("".join(key))
            key, in_key = [], False
            index += 1
            if index >= len(path):
                raise ValueError(f"The path {path!r} ends with a dot.")
            continue
        if char == "[":
            if path[index : index + 2] != ARRAY_STEP:
                raise ValueError(f"The path {path!r} has a `[` that is not `[]`.")
            if in_key:
                steps.append("".join(key))
                key, in_key = [], False
            elif not steps:
                raise ValueError(f"The path {path!r} starts with `[]`.")
            steps.append(None)
            index += 2
            if index < len(path) and path[index] not in ".[":
                raise ValueError(f"The path {path!r} needs a dot after `[]`.")
            continue
        if char == "]":
            raise ValueError(f"The path {path!r} has an unmatched `]`.")
        key.append(char)
        in_key = True
        index += 1
    if in_key:
        steps.append("".join(key))
    if not steps:
        raise ValueError("The path is empty.")
    return steps


def infer_type(value: Any) -> str | None:
    """The catalog type of a JSON value; None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "datetime" if looks_like_datetime(value) else "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "string"


def looks_like_datetime(value: str) -> bool:
    if not _ISO_DATETIME.match(value):
        return False
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _last_key(path: str) -> str:
    steps = [step for step in path_parse(path) if step is not None]
    return steps[-1] if steps else ""


def _normalised(key: str) -> str:
    return re.sub(r"[\s_\-]", "", key).lower()


def is_personal_path(path: str) -> bool:
    """Whether a newly discovered field starts out marked personal."""
    try:
        steps = [step for step in path_parse(path) if step is not None]
    except ValueError:
        return False
    return any(_normalised(step) in PERSONAL_KEYS for step in steps)


# Kept as an example only as a hint, whatever CATALOG_MASK_CONTACT_EXAMPLES says.
HIDDEN_KINDS = frozenset({"street_address", "iban", "card_number"})


def example_value(value: Any, path: str, *, mask: bool = True) -> Any:
    """An example value fit to keep: strings cut short; with `mask`, emails and phone
    numbers reduced to a hint; street addresses, IBANs and card numbers (alone or inside
    text) always replaced by one (`••• (IBAN)`)."""
    if mask:
        value = mask_example(value, path)
    if isinstance(value, str | int) and not isinstance(value, bool):
        kind = personal_kind(value, path)
        if kind in HIDDEN_KINDS:
            return hidden_example(kind)
    if isinstance(value, str) and len(value) > EXAMPLE_MAX_LENGTH:
        return value[:EXAMPLE_MAX_LENGTH] + "…"
    return value


def mask_example(value: Any, path: str) -> Any:
    """Emails and phone numbers keep only a hint: `j•••@e•••.com`, `•••••••78`."""
    if isinstance(value, str):
        if _EMAIL.match(value):
            local, _, domain = value.partition("@")
            host, _, tld = domain.rpartition(".")
            return f"{local[:1]}•••@{host[:1]}•••.{tld}"
        if _is_phone(value, path):
            return _masked_digits(re.sub(r"\D", "", value))
        return value
    if isinstance(value, int) and not isinstance(value, bool) and _is_phone(str(value), path):
        return _masked_digits(str(value))
    return value


def _masked_digits(digits: str) -> str:
    return "•" * max(len(digits) - 2, 3) + digits[-2:]


def _is_phone(value: str, path: str) -> bool:
    if not _PHONE.match(value) or looks_like_datetime(value):
        return False
    digits = sum(char.isdigit() for char in value)
    if not 7 <= digits <= 15:
        return False
    try:
        phone_key = any(word in _normalised(_last_key(path)) for word in _PHONE_KEYS)
    except ValueError:
        phone_key = False
    if value.startswith("+") or phone_key:
        return True
    # Without a + or a phone-like key, only the way people write phone numbers counts:
    # digit groups split by spaces, dashes or brackets (not dots: decimals, IP addresses).
    return "." not in value and bool(re.search(r"\d[\s()-]+\d", value))


def same_value(a: Any, b: Any) -> bool:
    """Equal as JSON values: `1` and `true` differ, though Python finds them equal."""
    return type(a) is type(b) and a == b


@dataclass
class FieldSighting:
    """What one event held at one path."""

    types: set[str] = field(default_factory=set)
    examples: list[Any] = field(default_factory=list)


@dataclass
class WalkLimits:
    max_paths: int = 1000
    max_array_items: int = 50
    max_depth: int = 32
    examples_per_event: int = 3


def walk(payload: dict[str, Any], limits: WalkLimits | None = None) -> dict[str, FieldSighting]:
    """Every path in a payload with the types (and a few scalar values) it held.

    Arrays are walked item by item up to a limit, so an order's `products` yields
    `products[].sku`, `products[].price`, … however many items it has. Bounded in paths,
    array items and depth, so a hostile payload costs no more than a large ordinary one.
    """
    limits = limits or WalkLimits()
    found: dict[str, FieldSighting] = {}

    def visit(value: Any, path: str, depth: int) -> None:
        kind = infer_type(value)
        if kind is None:
            return
        sighting = found.get(path)
        if sighting is None:
            if len(found) >= limits.max_paths or len(path) > MAX_PATH_LENGTH:
                return
            sighting = found[path] = FieldSighting()
        sighting.types.add(kind)
        if kind in ("object", "array"):
            if depth >= limits.max_depth:
                return
            if kind == "object":
                for key, item in value.items():
                    if key != "":  # an empty key has no name a path could give it
                        visit(item, path_join(path, str(key)), depth + 1)
            else:
                for item in value[: limits.max_array_items]:
                    visit(item, path + ARRAY_STEP, depth + 1)
        elif len(sighting.examples) < limits.examples_per_event and not any(
            same_value(value, kept) for kept in sighting.examples
        ):
            sighting.examples.append(value)

    for key, value in payload.items():
        if key != "":
            visit(value, escape_key(str(key)), 1)
    return found


# --- values that look personal ---------------------------------------------------------------

# What the catalog suggests a field be marked personal for: (one value, the values), as a
# page names them.
PERSONAL_KINDS = {
    "email": ("email address", "email addresses"),
    "phone": ("phone number", "phone numbers"),
    "street_address": ("street address", "street addresses"),
    "iban": ("IBAN", "IBANs"),
    "card_number": ("card number", "card numbers"),
}
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_IBAN_IN_TEXT = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_CARD_IN_TEXT = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# A house number beside a street word (an abbreviated one, or a street word before the name,
# then the end, a comma or a postcode): "221B Baker Street", "12 Main St., Springfield",
# "12 rue de la Paix", "Hauptstraße 5", "Hauptplatz 1, 4020 Linz", "Calle Mayor 3",
# "Via Roma, 10".
_ENDS = r"(?=\s*(?:$|[,;/\n]|\d))"
_STREET_WORDS_AFTER = (
    r"street|road|avenue|lane|drive|boulevard|terrace|close|crescent|highway|parkway"
)
_STREET_WORDS_BEFORE = (
    r"rue|avenue|boulevard|chemin|allée|impasse|quai|calle|avenida|via|viale|piazza|corso"
    r"|rua|praça|plaza|paseo|carrer"
)
_STREET_SUFFIXES = (
    r"stra(?:ss|ß)e|str\.|gasse|weg|platz|allee|straat|laan|gracht|plein|vej|gade|gatan"
    r"|vägen|veien"
)
_STREET_ADDRESS = re.compile(
    rf"\b\d{{1,5}}[a-z]?,?\s+(?:[\w'.-]+\s+){{1,4}}(?:{_STREET_WORDS_AFTER})\b"
    rf"|\b\d{{1,5}}[a-z]?,?\s+(?:[\w'.-]+\s+){{0,4}}(?:st|rd|ave|blvd)\.?{_ENDS}"
    rf"|\b\d{{1,5}}[a-z]?,?\s+(?:{_STREET_WORDS_BEFORE})\s+\w"
    rf"|\b(?:{_STREET_WORDS_BEFORE})\s+[^\d,;]{{2,40}},?\s*\d{{1,5}}[a-z]?\b{_ENDS}"
    rf"|(?:{_STREET_SUFFIXES})\s*\d{{1,5}}[a-z]?\b{_ENDS}",
    re.IGNORECASE,
)
# Longer text is not looked at for an address or a number (a pasted article, a log line).
_DETECT_MAX_LENGTH = 500


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def is_iban(text: str) -> bool:
    """An IBAN, with or without its groups' spaces, whose check digits are right (ISO 13616:
    the country and check moved to the end, letters as numbers, the whole mod 97 is 1)."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not _IBAN.match(compact):
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in moved)
    return int(number) % 97 == 1


def is_card_number(text: str) -> bool:
    """A payment card number: 13 to 19 digits (spaces or dashes between groups allowed)
    passing the Luhn check, not all one digit."""
    digits = re.sub(r"[ -]", "", text)
    if not digits.isdigit() or not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    return _luhn(digits)


def personal_kind(value: Any, path: str = "") -> str | None:
    """Which kind of personal data a value looks like (a key of PERSONAL_KINDS), or None.

    An email or an IBAN is the whole value; a card number or a street address may sit
    inside free text ("ship to 12 Baker Street please"); a phone number is the whole value
    as `mask_example` finds it (a number inside text is not a phone). Booleans, dates and
    text longer than 500 characters are none of them."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        text = str(value)
        if is_card_number(text):
            return "card_number"
        return "phone" if _is_phone(text, path) else None
    if not isinstance(value, str) or len(value) > _DETECT_MAX_LENGTH:
        return None
    text = value.strip()
    if len(text) < 5 or looks_like_datetime(text):
        return None
    if "@" in text and _EMAIL.match(text):
        return "email"
    has_digit = any(char.isdigit() for char in text)
    if not has_digit:
        return None
    if is_iban(text) or any(is_iban(m.group(0)) for m in _IBAN_IN_TEXT.finditer(text.upper())):
        return "iban"
    if any(is_card_number(m.group(0)) for m in _CARD_IN_TEXT.finditer(text)):
        return "card_number"
    if _is_phone(text, path):
        return "phone"
    # An address has words: a value without a space (an id, a URL) is none.
    if " " in text and _STREET_ADDRESS.search(text):
        return "street_address"
    return None


def personal_kind_text(kind: str) -> str:
    """What values of a kind are called on a page: "email addresses" ("" for no kind)."""
    names = PERSONAL_KINDS.get(kind)
    return names[1] if names else ""


def hidden_example(kind: str) -> str:
    """What the catalog keeps as the example of a value of this kind, instead of it."""
    return f"••• ({PERSONAL_KINDS[kind][0]})"
