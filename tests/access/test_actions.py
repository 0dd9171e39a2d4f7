"""Every action writes exactly one audit entry naming its actor, in the transaction of its
change: an action that fails after its write leaves neither the change nor the entry."""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

import campaigns.journeys.services
import campaigns.services
import cdp_project.analytics.services
import ingestion.catalog.products
import ingestion.catalog.services
import ingestion.services
import profiles.imports
import profiles.rights
import profiles.services
import segments.services
from campaigns.bounces import esp_event_record
from campaigns.models import Campaign
from cdp_project.access.actors import Actor
from cdp_project.access.audit import ACTIONS
from cdp_project.access.models import AuditEntry
from segments.definition import empty_group
from segments.models import Segment
from tests.access.conftest import Store, snapshot

pytestmark = pytest.mark.django_db

Call = Callable[[Store, Actor], Any]

_ACTIVITY = {
    "display_name": "Viewed a product",
    "description": "",
    "role": "",
    "status": "approved",
    "engagement_points": 2.0,
}
_FIELD = {"display_name": "SKU", "description": "", "personal": True, "pinned_type": "string"}
_CUSTOMERS = b"user_id,email,plan\ngrace,grace@example.com,gold\n"


@pytest.fixture(autouse=True)
def _spare_segment(store: Store) -> Segment:
    """A segment nothing uses, so that deleting it is allowed."""
    return Segment.objects.create(name="Spare", definition=empty_group())


@pytest.fixture(autouse=True)
def _journeys(store: Store) -> None:
    """Two journeys made without an action (so the action under test writes the only
    entry), their draft the review-request template: one in draft, one published."""
    definition = campaigns.journeys.services.template_definition("review")
    for name in ("Reviews draft", "Reviews live"):
        Campaign.objects.create(name=name, kind=Campaign.Kind.JOURNEY, draft=definition)
    live = Campaign.objects.get(name="Reviews live")
    live.version = live.versions.create(number=1, definition=definition)
    live.save(update_fields=["version"])


def _journey(*, published: bool = False) -> Campaign:
    return Campaign.objects.get(name="Reviews live" if published else "Reviews draft")


# One call per action, by the name `@action` lists it under.
CALLS: dict[str, Call] = {
    "ingestion.services.source_create": lambda s, a: ingestion.services.source_create(
        actor=a, name="App", kind="mobile"
    ),
    "ingestion.services.source_update": lambda s, a: ingestion.services.source_update(
        actor=a, source=s.source, name="Shop", kind="server", enabled=False, allowed_origins=[]
    ),
    "ingestion.services.write_key_create": lambda s, a: ingestion.services.write_key_create(
        actor=a, source=s.source, label="Second"
    ),
    "ingestion.services.write_key_revoke": lambda s, a: ingestion.services.write_key_revoke(
        actor=a, write_key=s.key
    ),
    "ingestion.catalog.services.activity_update": (
        lambda s, a: ingestion.catalog.services.activity_update(
            actor=a, activity=s.activity, **_ACTIVITY
        )
    ),
    "ingestion.catalog.services.field_update": (
        lambda s, a: ingestion.catalog.services.field_update(actor=a, field=s.property, **_FIELD)
    ),
    "ingestion.catalog.services.field_personal_confirm": (
        lambda s, a: ingestion.catalog.services.field_personal_confirm(actor=a, field=s.property)
    ),
    "ingestion.catalog.services.field_personal_dismiss": (
        lambda s, a: ingestion.catalog.services.field_personal_dismiss(actor=a, field=s.property)
    ),
    "ingestion.catalog.products.products_import_csv": (
        lambda s, a: ingestion.catalog.products.products_import_csv(
            actor=a, data=b"sku,name,price\nSKU-9,Boots,90\n"
        )
    ),
    "cdp_project.analytics.services.funnel_save": lambda s, a: (
        cdp_project.analytics.services.funnel_save(
            actor=a,
            name="Browse to cart",
            steps=[
                {"activity": {"role": "product_viewed"}, "where": []},
                {"activity": {"role": "product_added"}, "where": []},
            ],
        )
    ),
    "segments.services.segment_create": lambda s, a: segments.services.segment_create(
        actor=a, name="Everyone again", definition=empty_group()
    ),
    "segments.services.segment_update": lambda s, a: segments.services.segment_update(
        actor=a, segment=s.segment, name="Everyone, renamed", definition=empty_group()
    ),
    "segments.services.segment_duplicate": lambda s, a: segments.services.segment_duplicate(
        actor=a, segment=s.segment
    ),
    "segments.services.segment_delete": lambda s, a: segments.services.segment_delete(
        actor=a, segment=Segment.objects.get(name="Spare")
    ),
    "campaigns.services.campaign_update": lambda s, a: campaigns.services.campaign_update(
        actor=a, campaign=s.campaign, values={"name": "Renamed"}
    ),
    "campaigns.services.campaign_status_set": (
        lambda s, a: campaigns.services.campaign_status_set(
            actor=a, campaign=s.campaign, status=Campaign.Status.PAUSED
        )
    ),
    "campaigns.services.campaign_test_send": lambda s, a: campaigns.services.campaign_test_send(
        actor=a, campaign=s.campaign, profile=s.profile, address="me@example.com"
    ),
    "campaigns.journeys.services.journey_create": (
        lambda s, a: campaigns.journeys.services.journey_create(
            actor=a, name="Welcome", template="welcome"
        )
    ),
    "campaigns.journeys.services.journey_draft_save": (
        lambda s, a: campaigns.journeys.services.journey_draft_save(
            actor=a,
            campaign=_journey(),
            definition=campaigns.journeys.services.template_definition("blank"),
        )
    ),
    "campaigns.journeys.services.journey_publish": (
        lambda s, a: campaigns.journeys.services.journey_publish(actor=a, campaign=_journey())
    ),
    "campaigns.journeys.services.journey_move_to_latest": (
        lambda s, a: campaigns.journeys.services.journey_move_to_latest(
            actor=a, campaign=_journey(published=True)
        )
    ),
    "profiles.services.profile_note_add": lambda s, a: profiles.services.profile_note_add(
        actor=a, profile=s.profile, body="Called about her order"
    ),
    "profiles.services.profile_consent_set": lambda s, a: profiles.services.profile_consent_set(
        actor=a, profile=s.profile, channel="email", state="withdrawn", how="By phone"
    ),
    "profiles.rights.profile_delete": lambda s, a: profiles.rights.profile_delete(
        actor=a, profile_id=s.profile.pk, suppress=True
    ),
    "profiles.imports.csv_import": lambda s, a: profiles.imports.csv_import(
        actor=a, kind="profiles", data=_CUSTOMERS
    ),
}
# Committed a chunk at a time (`@batched_action`): their entry comes last, on its own.
BATCHED = {"profiles.imports.csv_import"}


def _last_pk() -> int:
    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_every_action_is_walked():
    assert set(ACTIONS) == set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_an_action_writes_one_entry_naming_its_user(name: str, store: Store, marketer):
    mark = _last_pk()
    CALLS[name](store, Actor.for_user(marketer, ip="203.0.113.9"))
    [entry] = AuditEntry.objects.filter(pk__gt=mark)
    assert (entry.actor, entry.actor_name, entry.system_actor, entry.ip) == (
        marketer,
        "marketer",
        "",
        "203.0.113.9",
    )
    assert entry.action and entry.object_type and entry.summary


@pytest.mark.parametrize("name", sorted(CALLS))
def test_an_action_writes_one_entry_naming_its_system_actor(name: str, store: Store):
    mark = _last_pk()
    CALLS[name](store, Actor.system("task:example"))
    [entry] = AuditEntry.objects.filter(pk__gt=mark)
    assert (entry.actor, entry.actor_name, entry.system_actor) == (
        None,
        "task:example",
        "task:example",
    )


@pytest.mark.parametrize("name", sorted(set(CALLS) - BATCHED))
def test_an_action_failing_after_its_write_leaves_neither_change_nor_entry(
    name: str, store: Store, monkeypatch
):
    module = ACTIONS[name].__module__
    real = importlib.import_module(module).audit_write
    written = []

    def write_then_fail(**kwargs: Any) -> AuditEntry:
        written.append(real(**kwargs))
        raise RuntimeError("the process died after the audit entry")

    monkeypatch.setattr(f"{module}.audit_write", write_then_fail)
    before = snapshot()
    with pytest.raises(RuntimeError, match="died after"):
        CALLS[name](store, Actor.system("test"))
    assert written, "the action wrote its entry before failing"
    assert snapshot() == before


def test_an_action_refuses_to_run_inside_another_transaction(store: Store):
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        CALLS["ingestion.services.source_create"](store, Actor.system("test"))


def test_the_import_commands_are_logged_as_themselves(tmp_path):
    customers = tmp_path / "customers.csv"
    customers.write_bytes(_CUSTOMERS)
    call_command("import_profiles", str(customers), stdout=io.StringIO())
    entry = AuditEntry.objects.get(action="profile.import")
    assert (entry.actor, entry.system_actor) == (None, "command:import_profiles")
    assert "customers.csv" in entry.summary and "1 imported" in entry.summary


def test_an_unsubscribe_at_the_email_provider_is_logged_as_the_provider(store: Store):
    from anymail.signals import AnymailTrackingEvent

    event = AnymailTrackingEvent(event_type="unsubscribed", recipient="ada@example.com")
    esp_event_record(sender=None, event=event, esp_name="Postmark")
    entry = AuditEntry.objects.get(action="profile.consent")
    assert (entry.object_id, entry.system_actor) == (str(store.profile.pk), "esp_webhook:Postmark")
