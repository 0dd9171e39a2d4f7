"""The product catalog: every product events mention, with the newest values seen.

A product is keyed by its SKU, or by its product id when no SKU is sent. It is read from
the top level of a track event's properties (`Product Viewed`, `Product Added`, … carry
`sku` / `product_id` there) and from each item of a `products` array (`Order Completed`,
`Cart Viewed`, …), where `id` also counts as the product id.

Newest wins field by field: values from an event newer than the product's `values_at`
overwrite the fields that event carries; an older event only fills fields still empty, so
a late-arriving old event never undoes a price change.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, models
from django.utils import timezone

from cdp_project.access.actors import Actor
from cdp_project.access.audit import action, audit_write
from cdp_project.core.csvfile import CsvRefused, csv_header, csv_rows
from cdp_project.core.jsontext import json_text
from cdp_project.core.prepared import prepared_cursor
from ingestion.models import Event, Product

TEXT_FIELDS = ("sku", "product_id", "name", "currency", "image_url", "url", "category", "brand")


def _max_length(name: str) -> int | None:
    field = Product._meta.get_field(name)
    return field.max_length if isinstance(field, models.Field) else None


MAX_LENGTHS = {name: _max_length(name) for name in (*TEXT_FIELDS, "key")}
MAX_PRICE = Decimal("9999999999")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


@dataclass
class ProductValues:
    key: str
    at: datetime
    sku: str = ""
    product_id: str = ""
    name: str = ""
    price: Decimal | None = None
    currency: str = ""
    image_url: str = ""
    url: str = ""
    category: str = ""
    brand: str = ""
    # When each field's value was seen (microseconds since the epoch).
    times: dict[str, int] = field(default_factory=dict)
    # The profile of the event that described it (None: an import, or no profile).
    profile_id: int | None = None

    def __post_init__(self) -> None:
        if not self.times:
            micros = _micros(self.at)
            # Runs for every product of every event: the test inlined, not a call.
            self.times = {
                name: micros for name in VALUE_FIELDS if getattr(self, name) not in _EMPTY
            }


VALUE_FIELDS = (*TEXT_FIELDS, "price")


# A field without a value: text fields are empty as "", the price as None.
_EMPTY = ("", None)


def _micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _safe_url(value: str) -> str:
    """Only web addresses: absolute http(s), protocol-relative or site-relative. Anything
    else (`javascript:`, `data:`) would become a link a marketer clicks."""
    lowered = value.lower()
    if lowered.startswith(("http://", "https://", "/")) and not lowered.startswith("/\\"):
        return value
    return ""


def _text(value: Any, name: str) -> str:
    if type(value) is str:  # nearly always: the checks below only for the rest
        return value.strip()[: MAX_LENGTHS[name]]
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float | Decimal):
        value = str(value)
    if not isinstance(value, str):
        return ""
    return value.strip()[: MAX_LENGTHS[name]]


def parse_price(value: Any) -> Decimal | None:
    """A price as a number or a numeric string ("19.99"); None when it is neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        # "1,299.99" and "1.299,99" (thousands, then decimals) and "19,99" (a decimal
        # comma) all mean what they say: the last separator of two kinds is the decimal one.
        if "," in value and "." in value:
            if value.rfind(",") > value.rfind("."):
                value = value.replace(".", "").replace(",", ".")
            else:
                value = value.replace(",", "")
        elif value.count(",") == 1:
            value = value.replace(",", ".")
        else:
            value = value.replace(",", "")
    try:
        price = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not price.is_finite() or price < 0 or price > MAX_PRICE:
        return None
    return price.quantize(Decimal("0.0001"))


def product_values(
    item: Any, *, at: datetime, currency: str = "", id_key: bool = False
) -> ProductValues | None:
    """The product an object describes, or None when it names no SKU or product id."""
    if not isinstance(item, dict):
        return None
    sku = _text(item.get("sku"), "sku")
    product_id = _text(item.get("product_id"), "product_id")
    if not product_id and id_key:
        product_id = _text(item.get("id"), "product_id")
    key = (sku or product_id)[: MAX_LENGTHS["key"]]
    if not key:
        return None
    item_currency = _text(item.get("currency"), "currency") or currency
    return ProductValues(
        key=key,
        at=at,
        sku=sku,
        product_id=product_id,
        name=_text(item.get("name"), "name"),
        price=parse_price(item.get("price")),
        currency=item_currency.upper() if _CURRENCY.match(item_currency) else "",
        image_url=_safe_url(_text(item.get("image_url") or item.get("image"), "image_url")),
        url=_safe_url(_text(item.get("url"), "url")),
        category=_text(item.get("category"), "category"),
        brand=_text(item.get("brand"), "brand"),
    )


def products_in_event(event: Event) -> list[ProductValues]:
    """The products an event names. Read once per event object: the catalog and the
    profiles both ask for them while processing a batch (treat the list as read-only)."""
    found = event.__dict__.get("_products_found")
    if found is None:
        found = event.__dict__["_products_found"] = _products_in_event(event)
    return found


def _products_in_event(event: Event) -> list[ProductValues]:
    if event.type != "track" or not isinstance(event.properties, dict):
        return []
    properties = event.properties
    currency = _text(properties.get("currency"), "currency")
    found = []
    top = product_values(properties, at=event.timestamp, currency=currency)
    if top:
        found.append(top)
    items = properties.get("products")
    if isinstance(items, list):
        for item in items[:500]:
            values = product_values(item, at=event.timestamp, currency=currency, id_key=True)
            if values:
                found.append(values)
    for values in found:
        values.profile_id = event.profile_id
    return found


def _combine(values: Iterable[ProductValues]) -> list[ProductValues]:
    """One set of values per product key, merged field by field: the newest value of each
    field wins (of two seen at the same time, the later in the batch)."""
    by_key: dict[str, list[ProductValues]] = defaultdict(list)
    for item in values:
        by_key[item.key].append(item)
    combined = []
    for key in sorted(by_key):
        items = by_key[key]
        if len(items) == 1:
            combined.append(items[0])
            continue
        people = {item.profile_id for item in items}
        only = people.pop() if len(people) == 1 else None
        items.sort(key=lambda v: v.at)
        fields: dict[str, Any] = {}
        times: dict[str, int] = {}
        for item in items:
            for name, at in item.times.items():  # the fields this item has a value for
                value = getattr(item, name)
                if value not in _EMPTY and at >= times.get(name, at):
                    fields[name] = value
                    times[name] = at
        combined.append(replace(items[0], **fields, at=items[-1].at, times=times, profile_id=only))
    return combined


def _wins(name: str) -> str:
    """Whether the incoming value of a field replaces the stored one: it is not empty, and
    the stored one is empty or was seen no later. (Text fields are empty as '', the price
    as NULL.)"""
    text = name != "price"
    return f"""(excluded.{name} IS NOT NULL {f"AND excluded.{name} <> ''" if text else ""} AND (
        p.{name} IS NULL {f"OR p.{name} = ''" if text else ""}
        OR coalesce((p.field_times ->> '{name}')::bigint, 0)
           <= (excluded.field_times ->> '{name}')::bigint))"""


_FIELD_UPDATES = ",\n".join(
    f"{name} = CASE WHEN {_wins(name)} THEN excluded.{name} ELSE p.{name} END"
    for name in VALUE_FIELDS
)
_TIMES_UPDATE = "p.field_times || jsonb_strip_nulls(jsonb_build_object({}))".format(
    ", ".join(
        f"'{name}', CASE WHEN {_wins(name)} THEN excluded.field_times -> '{name}' END"
        for name in VALUE_FIELDS
    )
)

# Built from this module's constants only; every value travels as a parameter.
_UPSERT_PRODUCTS = f"""
    INSERT INTO ingestion_product AS p (
        key, sku, product_id, name, price, currency, image_url, url, category, brand,
        values_at, field_times, only_profile, first_seen, updated_at
    )
    SELECT key, sku, product_id, name, price, currency, image_url, url, category, brand,
           values_at, field_times, only_profile, %s, %s
    FROM jsonb_to_recordset(%s::jsonb)
         AS t(key text, sku text, product_id text, name text, price numeric, currency text,
              image_url text, url text, category text, brand text, values_at timestamptz,
              field_times jsonb, only_profile bigint)
    ORDER BY key
    ON CONFLICT (key) DO UPDATE SET
        {_FIELD_UPDATES},
        only_profile = CASE WHEN p.only_profile = excluded.only_profile
                            THEN p.only_profile END,
        field_times = {_TIMES_UPDATE},
        values_at = GREATEST(p.values_at, excluded.values_at),
        updated_at = excluded.updated_at
    RETURNING (xmax = 0) AS inserted
"""  # noqa: S608


def products_upsert(values: Sequence[ProductValues]) -> tuple[int, int]:
    """Store product values (one query for any number); returns (created, updated)."""
    rows = _combine(values)
    if not rows:
        return 0, 0
    now = timezone.now()
    # One JSON document, encoded in C: arrays would be quoted value by value in Python.
    document = json_text(
        [
            {
                "key": row.key,
                **{name: getattr(row, name) for name in VALUE_FIELDS},
                "values_at": row.at,
                "field_times": row.times,
                "only_profile": row.profile_id,
            }
            for row in rows
        ]
    )
    with prepared_cursor() as cursor:
        cursor.execute(_UPSERT_PRODUCTS, [now, now, document])
        inserted = [row[0] for row in cursor.fetchall()]
    created = sum(inserted)
    return created, len(inserted) - created


def products_delete_of_people(*, profile_ids: Sequence[int]) -> int:
    """Delete the products that only these profiles' events described (profiles' deletion
    calls it with a person's profile and the profiles merged into it): their names, URLs
    and SKUs came from that person alone. Returns how many were deleted."""
    # One statement: nothing refers to a product row.
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM ingestion_product WHERE only_profile = ANY(%s)", [list(profile_ids)]
        )
        deleted: int = cursor.rowcount
    return deleted


def products_discover(events: Sequence[Event]) -> None:
    """The catalog processor's product step: every product the batch mentions."""
    products_upsert([values for event in events for values in products_in_event(event)])


# --- CSV import ------------------------------------------------------------------------------

CSV_MAX_BYTES = 20 * 1024 * 1024
CSV_MAX_ROWS = 100_000
CSV_COLUMNS = (
    "sku",
    "product_id",
    "name",
    "price",
    "currency",
    "image_url",
    "url",
    "category",
    "brand",
)
_ALIASES = {
    "id": "product_id",
    "productid": "product_id",
    "title": "name",
    "image": "image_url",
    "imageurl": "image_url",
    "image_link": "image_url",
    "link": "url",
    "producturl": "url",
    "product_url": "url",
}


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    rows: int = 0

    @property
    def imported(self) -> int:
        return self.created + self.updated


# The file as a whole cannot be read; nothing was imported. The CSV reader's error.
ImportRefused = CsvRefused


def check_csv_size(size: int) -> None:
    """Refuse a file over the limit; the upload view calls it before reading the file."""
    if size > CSV_MAX_BYTES:
        raise ImportRefused(f"The file is larger than {CSV_MAX_BYTES // (1024 * 1024)} MB.")


def _column(header: str) -> str:
    name = re.sub(r"[\s\-]+", "_", header.strip().lower())
    return _ALIASES.get(name, _ALIASES.get(name.replace("_", ""), name))


@action
def products_import_csv(*, actor: Actor, data: bytes, file_name: str = "") -> ImportResult:
    """Import products from CSV (a header row, then one product per row).

    Columns: `sku` and/or `product_id` (one is required per row), `name`, `price`,
    `currency`, `image_url`, `url`, `category`, `brand`; common aliases (`id`, `title`,
    `image`, `link`) are understood and other columns ignored. Rows with an error are
    reported by line and skipped; the others are imported and count as the newest values.
    """
    check_csv_size(len(data))
    file = io.BytesIO(data)
    header, delimiter = csv_header(file)
    columns = [_column(name) for name in header]
    if "sku" not in columns and "product_id" not in columns:
        raise ImportRefused(
            "The header row needs a `sku` or a `product_id` column; found: "
            + ", ".join(name for name in header if name.strip())[:300]
            + "."
        )
    result = ImportResult()
    now = timezone.now()
    values: list[ProductValues] = []
    for line, row in csv_rows(file, delimiter=delimiter):
        result.rows += 1
        if result.rows > CSV_MAX_ROWS:
            raise ImportRefused(f"The file has more than {CSV_MAX_ROWS:,} rows; split it.")
        item = {name: cell for name, cell in zip(columns, row, strict=False) if name in CSV_COLUMNS}
        if item.get("price", "").strip() and parse_price(item["price"]) is None:
            result.errors.append((line, f"The price {item['price'][:40]!r} is not a number."))
            continue
        product = product_values(item, at=now, currency=item.get("currency", ""))
        if product is None:
            result.errors.append((line, "The row has neither a SKU nor a product id."))
            continue
        values.append(product)
    result.created, result.updated = products_upsert(values)
    audit_write(
        actor=actor,
        action="product.import",
        object_type="import",
        object_id="products",
        summary=f"Imported {result.imported} products ({result.created} new, "
        f"{result.updated} updated, {len(result.errors)} lines skipped)"
        + (f" from {file_name[:100]}" if file_name else ""),
    )
    return result


__all__ = [
    "ImportRefused",
    "ImportResult",
    "ProductValues",
    "parse_price",
    "products_discover",
    "products_import_csv",
    "products_in_event",
    "products_upsert",
]
