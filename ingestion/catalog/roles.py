"""Commerce roles: which activity means "viewed a product", "ordered", …

New activities named as in the Segment e-commerce spec get their role on their own; a
marketer maps other names (a site that sends `add_to_cart`) in the catalog.
"""

from __future__ import annotations

import re

from ingestion.models import CommerceRole

SPEC_NAMES = {
    "Product List Viewed": CommerceRole.PRODUCT_LIST_VIEWED,
    "Product Viewed": CommerceRole.PRODUCT_VIEWED,
    "Product Added": CommerceRole.PRODUCT_ADDED,
    "Product Removed": CommerceRole.PRODUCT_REMOVED,
    "Cart Viewed": CommerceRole.CART_VIEWED,
    "Checkout Started": CommerceRole.CHECKOUT_STARTED,
    "Order Completed": CommerceRole.ORDER_COMPLETED,
    "Order Refunded": CommerceRole.ORDER_REFUNDED,
    "Order Cancelled": CommerceRole.ORDER_CANCELLED,
}


def _normalised(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name).strip().lower()


_BY_NORMALISED_NAME = {_normalised(name): role for name, role in SPEC_NAMES.items()}


def default_role(kind: str, name: str) -> str:
    """The role a new activity starts with: the spec's names, in any case and with `_` or
    `-` for spaces (`order_completed`, `Order Completed`)."""
    if kind != "track":
        return ""
    return str(_BY_NORMALISED_NAME.get(_normalised(name), ""))
