"""Erasure leaves nothing: a person whose every value carries a marker shops, orders, gets
the confirmation, and is deleted from the profile page with their ids suppressed; then no
row of any table of the database, read as text, holds the marker."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from kombu.transport import memory

from campaigns import engine
from campaigns.defaults import campaigns_setup
from campaigns.models import Campaign, Message
from campaigns.services import campaign_test_send
from cdp_project.access.actors import Actor
from ingestion.models import ActivityProperty, Product, ProfileAttribute
from profiles import rights
from profiles.models import Profile
from profiles.services import profile_note_add
from tests.conftest import process_stored

pytestmark = pytest.mark.django_db

# The marker, in every value of the person; the phone carries it in digits.
MARK = "qzmark7"
PHONE_DIGITS = "6647391028"
PERSON = {
    "user_id": f"{MARK}-user",
    "anonymous_id": f"{MARK}-device",
    "email": f"{MARK}.lovelace@example.com",
    "first_name": f"Ada{MARK}",
    "last_name": f"Quill{MARK}",
    "phone": "+43 664 739 1028",
    "city": f"Linz{MARK}",
}
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_suppression_state():
    rights.suppression_forget()
    yield
    rights.suppression_forget()


@pytest.fixture
def marketer(client, django_user_model):
    user = django_user_model.objects.create_user("marketer", "m@example.com", "pw")
    client.force_login(user)
    return user


def _tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name FROM information_schema.tables
            WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
            ORDER BY table_name
            """
        )
        return [row[0] for row in cursor.fetchall()]


_FORMS = [MARK, PHONE_DIGITS, "664 739 1028"]


def tables_holding_the_marker() -> dict[str, int]:
    """Every table of the database with the number of its rows that, read as text (the
    whole row, every column of any type), hold the marker or the phone's digits."""
    patterns = [f"%{form}%" for form in _FORMS]
    found = {}
    with connection.cursor() as cursor:
        for table in _tables():
            cursor.execute(
                f'SELECT count(*) FROM "{table}" AS r WHERE r::text ILIKE ANY(%s)',  # noqa: S608
                [patterns],
            )
            count = cursor.fetchone()[0]
            if count:
                found[table] = count
    return found


def broker_payloads() -> list[str]:
    """The task messages waiting in the tests' in-memory broker, bodies decoded."""
    texts = []
    for queue in memory.Channel.queues.values():
        for message in list(queue.queue):
            body = message.get("body", "")
            if message.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body).decode()
            texts.append(json.dumps(message) + body)
    return texts


def _ingest(ingest, *messages: dict) -> None:
    response = ingest("batch", {"batch": list(messages)})
    assert response.status_code == 200, response.content


def _shop(ingest, django_capture_on_commit_callbacks) -> None:
    """The person browses, writes a note on a product, logs in, orders; a refused event
    of theirs lands in the debugger. Someone else shops too (a product both viewed)."""
    who = {"userId": PERSON["user_id"], "anonymousId": PERSON["anonymous_id"]}
    with django_capture_on_commit_callbacks(execute=True):
        _ingest(
            ingest,
            {
                "type": "track",
                "event": "Product Viewed",
                "anonymousId": PERSON["anonymous_id"],
                "properties": {
                    "sku": f"{MARK}-engraving",
                    "name": f"Engraved {MARK} plate",
                    "note": f"A gift for my aunt in {MARK} street",
                    "price": 30,
                },
            },
            {
                "type": "track",
                "event": "Product Viewed",
                "anonymousId": PERSON["anonymous_id"],
                "properties": {"sku": "SHARED-1", "name": "Trail shoe", "price": 20},
            },
            {
                "type": "identify",
                **who,
                "traits": {
                    "email": PERSON["email"],
                    "first_name": PERSON["first_name"],
                    "last_name": PERSON["last_name"],
                    "phone": PERSON["phone"],
                    "city": PERSON["city"],
                    "email_consent": "granted",
                },
            },
            {
                "type": "track",
                "event": "Order Completed",
                **who,
                "properties": {
                    "order_id": f"{MARK}-order-1",
                    "total": 50,
                    "currency": "EUR",
                    "shipping_address": f"Hauptplatz 1, 4020 {MARK} Linz",
                    "products": [
                        {"sku": f"{MARK}-engraving", "name": f"Engraved {MARK} plate", "price": 30},
                        {"sku": "SHARED-1", "name": "Trail shoe", "price": 20},
                    ],
                },
            },
            # Refused (a time that is none): the debugger keeps an excerpt.
            {
                "type": "track",
                "event": "Signed Up",
                **who,
                "timestamp": "nope",
                "properties": {"plan": MARK},
            },
        )
        _ingest(
            ingest,
            {
                "type": "identify",
                "userId": "bob-1",
                "traits": {"email": "bob@example.com", "first_name": "Bob", "city": "Graz"},
            },
            {
                "type": "track",
                "event": "Product Viewed",
                "userId": "bob-1",
                "properties": {"sku": "SHARED-1", "name": "Trail shoe", "note": "for Bob"},
            },
        )
    process_stored()


def test_a_deleted_person_leaves_no_value_in_any_table(
    ingest, client, marketer, django_capture_on_commit_callbacks
):
    memory.Channel.queues.clear()
    campaigns_setup()
    Campaign.objects.update(status=Campaign.Status.ACTIVE)
    with time_machine.travel(NOW, tick=False):
        _shop(ingest, django_capture_on_commit_callbacks)
        engine.campaigns_run_due()
    profile = Profile.objects.get(user_id=PERSON["user_id"])
    profile_note_add(
        actor=Actor.for_user(marketer), profile=profile, body=f"Called {MARK} about the plate"
    )
    confirmation = Campaign.objects.get(kind="order_confirmation")
    campaign_test_send(
        actor=Actor.for_user(marketer),
        campaign=confirmation,
        profile=profile,
        address=PERSON["email"],
    )

    # The broker's pending tasks carry ids, never values (and some were published).
    payloads = broker_payloads()
    assert payloads
    assert not [text for text in payloads if MARK in text or PHONE_DIGITS in text]

    # Before: the marker is in every kind of place (else the scan below proves nothing),
    # the catalog's examples of fields nobody marked personal included.
    before = tables_holding_the_marker()
    for table in (
        "profiles_profile",
        "profiles_identity",
        "profiles_order",
        "profiles_profilenote",
        "ingestion_event",
        "ingestion_refusal",
        "ingestion_activityproperty",
        "ingestion_profileattribute",
        "ingestion_product",
        "campaigns_message",
        "campaigns_enrollment",
        "access_auditentry",
    ):
        assert table in before, (table, before)
    assert any(MARK in m.body for m in mail.outbox)
    assert Message.objects.filter(profile=profile).exists()
    for activity, path in (("Order Completed", "order_id"), ("Product Viewed", "note")):
        field = ActivityProperty.objects.get(activity__name=activity, path=path)
        assert not field.personal
        assert any(MARK in str(example) for example in field.examples), field.examples
    # The address is kept only as a hint, and the field is suggested personal.
    address = ActivityProperty.objects.get(
        activity__name="Order Completed", path="shipping_address"
    )
    assert (address.examples, address.personal_suggested) == (
        ["••• (street address)"],
        "street_address",
    )

    response = client.post(f"/profiles/{profile.pk}/delete/", {"suppress": "on"})
    assert response.status_code == 302

    # A new event for the deleted user id is refused and stores nothing of them.
    response = ingest(
        "track",
        {"event": "Product Viewed", "userId": PERSON["user_id"], "properties": {"x": MARK}},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "profile_suppressed"

    assert tables_holding_the_marker() == {}

    # Someone else's values, and what they shared with the person, stay.
    assert Product.objects.filter(key="SHARED-1").exists()
    assert not Product.objects.filter(key__startswith=MARK).exists()
    note = ActivityProperty.objects.get(activity__name="Product Viewed", path="note")
    assert note.examples == ["for Bob"]
    assert ProfileAttribute.objects.get(path="city").examples == ["Graz"]
    assert Profile.objects.filter(user_id="bob-1").exists()


def test_examples_remember_the_profile_each_came_from(ingest):
    """Each catalog example keeps the profile whose event gave it, beside it."""
    _ingest(
        ingest,
        {"type": "track", "event": "Gift Wrapped", "userId": "ann", "properties": {"note": "a"}},
        {"type": "track", "event": "Gift Wrapped", "userId": "bob", "properties": {"note": "b"}},
    )
    process_stored()
    field = ActivityProperty.objects.get(activity__name="Gift Wrapped", path="note")
    owners = dict(zip(field.examples, field.example_origins, strict=True))
    assert owners == {
        "a": Profile.objects.get(user_id="ann").pk,
        "b": Profile.objects.get(user_id="bob").pk,
    }
    # A later batch with an older value keeps both, and each keeps its origin.
    _ingest(
        ingest,
        {
            "type": "track",
            "event": "Gift Wrapped",
            "userId": "cy",
            "properties": {"note": "a"},
            "timestamp": (NOW - timedelta(days=400)).isoformat(),
        },
    )
    process_stored()
    field.refresh_from_db()
    assert len(field.examples) == len(field.example_origins) == 2
    assert dict(zip(field.examples, field.example_origins, strict=True))["b"] == owners["b"]


def test_examples_and_products_of_a_merged_profile_go_with_the_survivor(ingest):
    """A device's events gave examples and a product before it was known to be the user's;
    the merge moved its events, and the survivor's deletion takes what the device gave."""
    _ingest(
        ingest,
        {
            "type": "track",
            "event": "Product Viewed",
            "anonymousId": "dev-1",
            "properties": {"sku": f"{MARK}-sku", "note": f"{MARK} from the device"},
        },
    )
    process_stored()
    device = Profile.objects.get(identities__value="dev-1")
    _ingest(ingest, {"type": "identify", "userId": "known-1", "traits": {"plan": "gold"}})
    process_stored()
    _ingest(ingest, {"type": "identify", "userId": "known-1", "anonymousId": "dev-1"})
    process_stored()
    survivor = Profile.objects.get(identities__value="known-1")
    assert survivor.pk != device.pk and not Profile.objects.filter(pk=device.pk).exists()
    note = ActivityProperty.objects.get(activity__name="Product Viewed", path="note")
    assert note.example_origins == [device.pk]
    assert Product.objects.get(key=f"{MARK}-sku").only_profile == device.pk

    rights.profile_delete(actor=Actor.system("test"), profile_id=survivor.pk, suppress=False)

    note.refresh_from_db()
    assert (note.examples, note.example_origins) == ([], [])
    assert not Product.objects.filter(key=f"{MARK}-sku").exists()


def test_examples_kept_before_origins_were_are_found_by_the_persons_values(ingest):
    _ingest(
        ingest,
        {
            "type": "identify",
            "userId": f"{MARK}-legacy",
            "traits": {"nickname": f"{MARK}-nick"},
        },
        {
            "type": "track",
            "event": "Review Written",
            "userId": "someone-else",
            "properties": {"text": "fine shoes"},
        },
    )
    process_stored()
    # As a field stored before origins: no origin beside any example.
    ProfileAttribute.objects.update(example_origins=[])
    ActivityProperty.objects.update(example_origins=[])
    profile = Profile.objects.get(user_id=f"{MARK}-legacy")

    rights.profile_delete(actor=Actor.system("test"), profile_id=profile.pk, suppress=False)

    assert ProfileAttribute.objects.get(path="nickname").examples == []
    assert ActivityProperty.objects.get(path="text").examples == ["fine shoes"]


def test_a_product_described_by_two_people_or_an_import_is_nobodys_alone(ingest):
    from ingestion.catalog.products import products_import_csv

    for user in ("ann", "bob"):
        _ingest(
            ingest,
            {
                "type": "track",
                "event": "Product Viewed",
                "userId": user,
                "properties": {"sku": "S2"},
            },
        )
    _ingest(
        ingest,
        {"type": "track", "event": "Product Viewed", "userId": "ann", "properties": {"sku": "S1"}},
    )
    process_stored()
    products_import_csv(actor=Actor.system("test"), data=b"sku,name\nS3,Imported\n")
    _ingest(
        ingest,
        {"type": "track", "event": "Product Viewed", "userId": "ann", "properties": {"sku": "S3"}},
    )
    process_stored()
    ann = Profile.objects.get(user_id="ann")
    owners = dict(Product.objects.values_list("key", "only_profile"))
    assert owners == {"S1": ann.pk, "S2": None, "S3": None}

    rights.profile_delete(actor=Actor.system("test"), profile_id=ann.pk, suppress=False)

    assert set(Product.objects.values_list("key", flat=True)) == {"S2", "S3"}
