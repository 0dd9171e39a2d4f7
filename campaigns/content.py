"""What a message shows, as plain data for its template: the person, the trigger event, the
products they viewed, their cart as it stands at send time, the order.

Everything here is dicts, lists, strings and numbers: templates never see a model object.
Products are completed from the product catalog (name, price, image) when the event named
only a SKU.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from cdp_project.access.links import web_url
from ingestion.catalog.products import parse_price, product_values
from ingestion.catalog.roles import SPEC_NAMES
from ingestion.catalog.selectors import activities_for_role, products_by_ids
from ingestion.models import CommerceRole, Event, Product
from profiles.computed.orders import order_amount
from profiles.models import Order, Profile

MAX_ITEMS = 12


def role_names(roles: Iterable[str]) -> set[str]:
    """The track event names that carry these commerce roles: the catalog's mapping, plus
    the spec's names for activities not catalogued yet."""
    names: set[str] = set()
    for role in roles:
        names |= {a.name for a in activities_for_role(role=role) if a.kind == "track"}
        names |= {name for name, spec_role in SPEC_NAMES.items() if spec_role == role}
    return names


def order_id_of(properties: dict[str, Any]) -> str:
    """The order id an order event carries (as profiles read it), or empty."""
    for key in ("order_id", "orderId", "checkout_id"):
        value = properties.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()[:255]
    return ""


def money(amount: Decimal | None, currency: str = "") -> str:
    if amount is None:
        return ""
    currency = currency or settings.SITE_CURRENCY
    return f"{amount.quantize(Decimal('0.01')):,} {currency}"


def _number(amount: Decimal | None) -> float | None:
    return float(amount) if amount is not None else None


def _item(
    key: str, values: dict[str, Any], product: Product | None, quantity: float = 1
) -> dict[str, Any]:
    """One product line: the event's values, blanks filled from the catalog."""

    def pick(name: str) -> Any:
        value = values.get(name)
        if value in (None, "") and product is not None:
            value = getattr(product, name)
        return value

    price = pick("price")
    currency = pick("currency") or settings.SITE_CURRENCY
    quantity_number = int(quantity) if float(quantity).is_integer() else quantity
    return {
        "key": key,
        "sku": pick("sku") or "",
        "product_id": pick("product_id") or "",
        "name": pick("name") or key,
        "price": _number(price),
        "price_display": money(price, currency),
        "currency": currency,
        # Event values: only web addresses, never a `javascript:` link in an email.
        "image_url": web_url(pick("image_url")),
        "url": web_url(pick("url")),
        "category": pick("category") or "",
        "brand": pick("brand") or "",
        "quantity": quantity_number,
        "line_total": _number(price * Decimal(str(quantity)) if price is not None else None),
    }


def _values(item: Any, at: datetime, *, id_key: bool) -> tuple[str, dict[str, Any]] | None:
    found = product_values(item, at=at, id_key=id_key)
    if found is None:
        return None
    return found.key, {
        name: getattr(found, name)
        for name in (
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
    }


def _quantity(item: dict[str, Any]) -> float:
    value = item.get("quantity")
    amount = parse_price(value)
    return float(amount) if amount is not None and amount > 0 else 1.0


def viewed_items(profile: Profile, *, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """The products a person viewed in the window, most recent first, one per SKU."""
    names = role_names([CommerceRole.PRODUCT_VIEWED])
    events = (
        Event.objects.filter(
            profile=profile,
            type="track",
            name__in=names,
            timestamp__gte=since,
            timestamp__lte=until,
        )
        .order_by("-timestamp", "-id")
        .only("properties", "timestamp")[:200]
    )
    seen: dict[str, dict[str, Any]] = {}
    for event in events:
        found = _values(event.properties, event.timestamp, id_key=False)
        if found and found[0] not in seen:
            seen[found[0]] = found[1]
        if len(seen) >= MAX_ITEMS:
            break
    catalog = products_by_ids(seen)
    return [_item(key, values, catalog.get(key)) for key, values in seen.items()]


def cart_id_of(properties: Any) -> str:
    """The cart an event names, as enrollments keep it; "" when it names none."""
    cart_id = properties.get("cart_id") if isinstance(properties, dict) else None
    return str(cart_id)[:255] if isinstance(cart_id, str | int) and cart_id != "" else ""


def cart_of(profile: Profile, *, cart_id: str = "", until: datetime) -> dict[str, Any]:
    """The cart as it stands: items added since the person's last order, minus those
    removed. When the site sends a `cart_id`, the events of that cart and those that name no
    cart; a removal finds its line by SKU or by product id, whichever it carries."""
    last_order = Order.objects.filter(profile=profile, placed_at__lte=until).aggregate(
        at=Max("placed_at")
    )["at"]
    added = role_names([CommerceRole.PRODUCT_ADDED])
    removed = role_names([CommerceRole.PRODUCT_REMOVED])
    events = Event.objects.filter(
        profile=profile, type="track", name__in=added | removed, timestamp__lte=until
    )
    if last_order is not None:
        events = events.filter(timestamp__gt=last_order)
    if cart_id:
        events = events.filter(Q(properties__cart_id=cart_id) | ~Q(properties__has_key="cart_id"))
    lines: dict[str, dict[str, Any]] = {}
    quantities: dict[str, float] = {}
    # Every SKU and product id seen on an added line, to the line's key.
    aliases: dict[str, str] = {}
    for event in events.order_by("timestamp", "id").only("name", "properties", "timestamp"):
        properties = event.properties if isinstance(event.properties, dict) else {}
        entries = [properties]
        if isinstance(properties.get("products"), list):
            entries += [p for p in properties["products"][:100] if isinstance(p, dict)]
        sign = 1 if event.name in added else -1
        for entry in entries:
            found = _values(entry, event.timestamp, id_key=entry is not properties)
            if not found:
                continue
            key, values = found
            ids = [str(values[name]) for name in ("sku", "product_id") if values.get(name)]
            if sign > 0:
                for alias in ids:
                    aliases.setdefault(alias, key)
                key = aliases.get(key, key)
                lines[key] = {**lines.get(key, {}), **{k: v for k, v in values.items() if v}}
            else:
                key = next((aliases[a] for a in [key, *ids] if a in aliases), key)
            quantities[key] = quantities.get(key, 0) + sign * _quantity(entry)
    kept = [key for key, quantity in quantities.items() if quantity > 0 and key in lines]
    catalog = products_by_ids(kept)
    items = [_item(key, lines[key], catalog.get(key), quantities[key]) for key in kept]
    total = sum((Decimal(str(i["line_total"])) for i in items if i["line_total"]), Decimal(0))
    currency = items[0]["currency"] if items else settings.SITE_CURRENCY
    return {
        "id": cart_id,
        "lines": items,
        "count": int(sum(quantities[key] for key in kept)),
        "total": float(total),
        "total_display": money(total, currency),
        "currency": currency,
    }


def order_of(properties: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The order an `Order Completed` event describes."""
    raw_currency = properties.get("currency")
    currency = (
        raw_currency.upper()
        if isinstance(raw_currency, str) and len(raw_currency) == 3
        else settings.SITE_CURRENCY
    )
    found: list[tuple[str, dict[str, Any], float]] = []
    products = properties.get("products")
    if isinstance(products, list):
        for entry in products[:200]:
            values = _values(entry, at, id_key=True)
            if values:
                found.append((values[0], values[1], _quantity(entry)))
    catalog = products_by_ids(key for key, _, _ in found)
    items = [_item(key, values, catalog.get(key), quantity) for key, values, quantity in found]
    total = order_amount(properties)

    def amount(name: str) -> Decimal | None:
        return parse_price(properties.get(name))

    order: dict[str, Any] = {
        "id": order_id_of(properties),
        "lines": items,
        "currency": currency,
        "total": _number(total),
        "total_display": money(total, currency),
    }
    for name in ("subtotal", "shipping", "tax", "discount"):
        order[name] = _number(amount(name))
        order[f"{name}_display"] = money(amount(name), currency)
    return order


def profile_data(profile: Profile) -> dict[str, Any]:
    traits = profile.traits if isinstance(profile.traits, dict) else {}
    first_name = traits.get("first_name") or traits.get("firstName") or ""
    if not first_name and profile.name:
        first_name = profile.name.split()[0]
    return {
        "id": profile.pk,
        "name": profile.name,
        "first_name": first_name if isinstance(first_name, str) else "",
        "email": profile.email,
        "user_id": profile.user_id,
        "traits": _plain(traits),
    }


def _plain(value: Any, depth: int = 0) -> Any:
    """JSON values only, whatever was stored."""
    if depth > 20:
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def message_context(
    *,
    campaign: Any,
    profile: Profile,
    trigger: dict[str, Any],
    items: str = "",
    cart_id: str = "",
    unsubscribe_url: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything a message's templates can use, for one person and trigger; `items` says
    which products `items` lists: the ones viewed since the trigger, the cart as it stands
    now, or the order's lines."""
    now = now or timezone.now()
    found = trigger.get("properties")
    properties = found if isinstance(found, dict) else {}
    trigger_at = trigger.get("at") or now
    if isinstance(trigger_at, str):
        trigger_at = datetime.fromisoformat(trigger_at)
    context: dict[str, Any] = {
        "profile": profile_data(profile),
        "event": {
            "name": trigger.get("name", ""),
            "timestamp": trigger_at.isoformat(),
            "properties": _plain(properties),
        },
        "campaign": {"name": campaign.name, "kind": campaign.kind},
        "unsubscribe_url": unsubscribe_url,
        "items": [],
        "cart": {"id": "", "lines": [], "count": 0, "total": 0.0, "total_display": ""},
        "order": {},
    }
    if items == "viewed":
        context["items"] = viewed_items(profile, since=trigger_at, until=now)
    elif items == "cart":
        context["cart"] = cart_of(profile, cart_id=cart_id, until=now)
        context["items"] = context["cart"]["lines"]
    elif items == "order":
        context["order"] = order_of(properties, trigger_at)
        context["items"] = context["order"]["lines"]
    return context


def sample_context(*, campaign_name: str, now: datetime) -> dict[str, Any]:
    """Everything a message's templates can use, for a made-up person with one product in
    their cart, viewed and ordered: to try a template before anyone gets it, so that one
    that compiles but cannot render (a list read the wrong way) is refused when published."""
    order = order_of(
        {
            "order_id": "1001",
            "products": [{"sku": "SAMPLE-1", "name": "Sample product", "price": 10, "quantity": 1}],
            "total": 10,
            "subtotal": 10,
        },
        now,
    )
    lines = order["lines"]
    return {
        "profile": {
            "id": 0,
            "name": "Ann Example",
            "first_name": "Ann",
            "email": "ann@example.com",
            "user_id": "ann",
            "traits": {"first_name": "Ann", "email": "ann@example.com"},
        },
        "event": {"name": "Sample", "timestamp": now.isoformat(), "properties": {}},
        "campaign": {"name": campaign_name, "kind": "journey"},
        "unsubscribe_url": "https://example.com/unsubscribe",
        "items": lines,
        "cart": {
            "id": "",
            "lines": lines,
            "count": 1,
            "total": order["total"],
            "total_display": order["total_display"],
            "currency": order["currency"],
        },
        "order": order,
    }
