from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from campaigns import engine
from campaigns.defaults import campaigns_setup
from campaigns.models import Campaign
from tests.conftest import process_stored

# Noon UTC on a weekday: outside any quiet hours the tests set unless they say so.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def later(traveller: time_machine.Coordinates, **delta: float) -> None:
    traveller.move_to(NOW + timedelta(**delta))


@pytest.fixture
def campaigns(db) -> dict[str, Campaign]:
    """The three default campaigns, active."""
    campaigns_setup()
    Campaign.objects.update(status=Campaign.Status.ACTIVE)
    return {c.kind: c for c in Campaign.objects.all()}


def send(ingest, *messages: dict, key: str | None = None) -> None:
    """Post messages through the ingest API and process them as the worker would."""
    batch = [{"messageId": f"m-{next(_ids)}", **m} for m in messages]
    kwargs = {"key": key} if key else {}
    response = ingest("batch", {"batch": batch}, **kwargs)
    assert response.status_code == 200, response.content
    assert response.json().get("refused", []) == [], response.json()
    process_stored()


def identify(user: str, *, consent: bool | None = True, **traits) -> dict:
    traits = {"email": f"{user}@example.com", "first_name": user.title(), **traits}
    if consent is not None:
        traits["email_consent"] = consent
    return {"type": "identify", "userId": user, "traits": traits}


def track(user: str, event: str, anonymous: bool = False, **properties) -> dict:
    ids = {"anonymousId": user} if anonymous else {"userId": user}
    return {"type": "track", "event": event, "properties": properties, **ids}


def viewed(user: str, sku: str, **properties) -> dict:
    return track(user, "Product Viewed", sku=sku, **properties)


def added(user: str, sku: str, **properties) -> dict:
    return track(user, "Product Added", sku=sku, **properties)


def removed(user: str, sku: str, **properties) -> dict:
    return track(user, "Product Removed", sku=sku, **properties)


def ordered(user: str, order_id: str, *products: dict, **properties) -> dict:
    return track(user, "Order Completed", order_id=order_id, products=list(products), **properties)


def run() -> engine.RunResult:
    return engine.campaigns_run_due()
