"""What `make run` sets up beside the demo store on its first start, so that a newcomer's
Segments, Campaigns and Outbox pages are not empty: a few example segments of the demo
store's customers, and the three built-in campaigns active.

Both go through the actions a marketer's clicks use (saved segments refresh on a worker,
activation checks the campaign can send), recorded in the audit log by the system actor
`demo`. Campaigns are activated only while email stays on
this machine (the console, file, memory or dummy backend): with an `EMAIL_URL` of a real
server they stay drafts, as on any other site.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from campaigns.defaults import DEFAULTS
from campaigns.models import Campaign
from campaigns.services import CampaignNotReady, campaign_status_set
from cdp_project.access.actors import Actor
from segments.definition import DefinitionError
from segments.models import Segment
from segments.services import segment_create

logger = logging.getLogger(__name__)

# What the audit log names as the author of the demo's segments and activations.
DEMO = Actor.system("demo")

# Backends that deliver nothing anywhere: mail is printed, written to a file, kept in memory
# or dropped. Every message is in the Outbox either way.
LOCAL_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}


def _attribute(path: str, operator: str, value: Any) -> dict[str, Any]:
    return {
        "kind": "attribute",
        "negate": False,
        "scope": "computed",
        "path": path,
        "operator": operator,
        "value": value,
    }


def _did(name: str, *, days: int, where: list[dict] | None = None, negate: bool = False) -> dict:
    return {
        "kind": "behaviour",
        "negate": negate,
        "activity": {"kind": "track", "name": name},
        "count": {"operator": "at_least", "value": 1},
        "window": {"type": "last", "amount": days, "unit": "days"},
        "where": where or [],
        "sources": [],
    }


def _all(*conditions: dict) -> dict[str, Any]:
    return {"kind": "group", "match": "all", "negate": False, "conditions": list(conditions)}


# (name, description, definition): each holds some of the demo store's personas.
EXAMPLE_SEGMENTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "Repeat customers",
        "Two orders or more.",
        _all(_attribute("orders_count", "gte", 2)),
    ),
    (
        "Big spenders",
        "500 or more spent, refunds taken off.",
        _all(_attribute("revenue", "gte", 500)),
    ),
    (
        "Lapsed customers",
        "Ordered before, but nothing in the last 30 days.",
        _all(
            _attribute("orders_count", "gte", 1),
            _attribute("last_order_at", "more_than_days_ago", 30),
        ),
    ),
    (
        "Footwear in the cart, no order",
        "Added running shoes or hiking boots to the cart in the last 30 days, "
        "and ordered nothing in those 30 days.",
        _all(
            _did(
                "Product Added",
                days=30,
                where=[
                    {
                        "path": "category",
                        "operator": "one_of",
                        "value": ["Running shoes", "Hiking boots"],
                    }
                ],
            ),
            _did("Order Completed", days=30, negate=True),
        ),
    ),
]


def email_stays_local() -> bool:
    """Whether sending an email only shows it here (the Outbox, the console, a file)."""
    return settings.EMAIL_BACKEND in LOCAL_EMAIL_BACKENDS


def demo_campaigns_activate() -> list[Campaign]:
    """Activate the built-in campaigns still in draft, while email stays on this machine;
    returns those activated. A campaign a marketer paused or changed the kind of is left."""
    if not email_stays_local():
        return []
    kinds = [default["kind"] for default in DEFAULTS]
    activated = []
    for campaign in Campaign.objects.filter(kind__in=kinds, status=Campaign.Status.DRAFT):
        try:
            activated.append(
                campaign_status_set(actor=DEMO, campaign=campaign, status=Campaign.Status.ACTIVE)
            )
        except CampaignNotReady as exc:  # edited into something that cannot send
            logger.warning("demo_campaign_not_activated campaign_id=%s: %s", campaign.pk, exc)
    return activated


def demo_segments_create() -> list[Segment]:
    """Save the example segments that no segment's name holds yet; returns those saved.

    Run once the demo store is processed: behaviour conditions name catalog paths, which
    exist only once the worker has discovered them. A definition the catalog cannot check
    (the demo store was not played, or its events were deleted) is skipped, and logged."""
    taken = set(Segment.objects.values_list("name", flat=True))
    saved = []
    for name, description, definition in EXAMPLE_SEGMENTS:
        if name in taken:
            continue
        try:
            saved.append(
                segment_create(
                    actor=DEMO, name=name, description=description, definition=definition
                )
            )
        except DefinitionError as exc:
            logger.warning("demo_segment_skipped name=%r: %s", name, exc)
    return saved
