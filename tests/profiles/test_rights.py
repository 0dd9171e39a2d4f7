"""Data rights: one person's export, their deletion with suppression, event retention."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import override_settings
from django.utils import timezone

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.models import (
    ActivityProperty,
    Event,
    ProfileAttribute,
    Refusal,
)
from profiles import rights
from profiles.models import (
    ConsentChange,
    Identity,
    Order,
    Profile,
    ProfileDeletion,
    ProfileMerge,
    ProfileNote,
    SuppressedIdentity,
)

pytestmark = pytest.mark.django_db

# Values unusual enough that finding one anywhere means it was not deleted.
ADA = {
    "user_id": "ada-user-8841",
    "anonymous_id": "ada-device-5527",
    "second_device": "ada-tablet-9902",
    "email": "ada.lovelace.8841@example.com",
    "name": "Ada Quillfeather",
    "phone": "+44 20 7946 0958",
}


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


def process_all() -> None:
    services.events_process(event_ids=list(Event.objects.values_list("pk", flat=True)))


@pytest.fixture
def ada(ingest) -> Profile:
    """A person with two devices (so a merge), identify traits and consent, an order, a
    refused event in the debugger, catalog examples of her values, a note, admin history."""
    ingest("track", {"event": "Product Viewed", "anonymousId": ADA["anonymous_id"]})
    ingest("track", {"event": "Product Viewed", "anonymousId": ADA["second_device"]})
    ingest(
        "identify",
        {
            "userId": ADA["user_id"],
            "anonymousId": ADA["anonymous_id"],
            "traits": {
                "email": ADA["email"],
                "name": ADA["name"],
                "first_name": "Ada",
                "phone": ADA["phone"],
                "email_consent": "granted",
                "favourite_colour": "heliotrope-violet",
            },
        },
    )
    ingest("identify", {"userId": ADA["user_id"], "anonymousId": ADA["second_device"]})
    ingest(
        "batch",
        {
            "batch": [
                {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": ADA["user_id"],
                    "properties": {
                        "order_id": "ORD-ADA-1",
                        "total": 20,
                        "gift_message": f"Happy birthday {ADA['name']}!",
                        "products": [{"sku": "SKU-1", "name": "Trail shoe", "price": 20}],
                    },
                },
                # Refused: the debugger keeps its excerpt, with her ids.
                {
                    "type": "track",
                    "event": "Signed Up",
                    "userId": ADA["user_id"],
                    "timestamp": "nope",
                },
            ]
        },
    )
    # Someone else, whose data must survive.
    ingest(
        "identify",
        {"userId": "bob-1", "traits": {"email": "bob@example.com", "name": "Bob Stone"}},
    )
    ingest(
        "track",
        {
            "event": "Order Completed",
            "userId": "bob-1",
            "properties": {"order_id": "ORD-BOB-1", "gift_message": "For Bob"},
        },
    )
    process_all()
    profile = Identity.objects.get(namespace="user_id", value=ADA["user_id"]).profile
    ProfileNote.objects.create(profile=profile, body=f"Called {ADA['name']} about her order")
    LogEntry.objects.create(
        user=_staff(),
        content_type=ContentType.objects.get_for_model(Profile),
        object_id=str(profile.pk),
        object_repr=str(profile),
        action_flag=CHANGE,
        change_message=f"Changed email to {ADA['email']}",
    )
    return profile


def _staff():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get_or_create(username="admin", defaults={"is_staff": True})[0]


def text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = current_schema()
              AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'character')
            """
        )
        return cursor.fetchall()


def where_found(values) -> list[str]:
    """Every (table.column) of the database that holds any of these values, in any form
    JSON may have written it."""
    found = []
    for table, column in text_columns():
        for value in values:
            forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
            for form in forms:
                escaped = form.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                with connection.cursor() as cursor:
                    cursor.execute(
                        f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s',  # noqa: S608
                        [f"%{escaped}%"],
                    )
                    if cursor.fetchone()[0]:
                        found.append(f"{table}.{column}: {value}")
    return sorted(set(found))


# --- export ----------------------------------------------------------------------------------


def test_the_export_holds_every_part_of_the_profile(ada, client, marketer):
    response = client.get(f"/profiles/{ada.pk}/export/")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"] == f'attachment; filename="profile-{ada.pk}.json"'
    assert response["Cache-Control"] == "no-store"
    data = json.loads(b"".join(response.streaming_content))

    assert data["format"] == "cdp.profile-export"
    assert data["profile"]["user_id"] == ADA["user_id"]
    assert data["profile"]["email"] == ADA["email"]
    assert data["profile"]["traits"]["phone"] == ADA["phone"]
    assert set(data["profile"]["trait_times"]) >= {"email", "phone"}
    assert {(i["namespace"], i["value"]) for i in data["identities"]} == {
        ("user_id", ADA["user_id"]),
        ("anonymous_id", ADA["anonymous_id"]),
        ("anonymous_id", ADA["second_device"]),
        ("email", ADA["email"]),
    }
    assert data["consent"]["email"]["state"] == "granted"
    assert data["consent"]["sms"]["state"] == "unknown"
    assert [c["state"] for c in data["consent"]["history"]] == ["granted"]
    assert data["computed"]["event_count"] == 5
    assert data["computed"]["orders_count"] == 1
    assert [o["order_id"] for o in data["orders"]] == ["ORD-ADA-1"]
    assert data["notes"][0]["body"].startswith("Called Ada")
    assert len(data["merges"]) == 1
    assert ["anonymous_id", ADA["second_device"]] in data["merges"][0]["identities"]
    assert data["messages"] == []
    assert len(data["events"]) == 5
    assert {e["name"] for e in data["events"]} == {"Product Viewed", "Order Completed", ""}
    assert data["events"][0]["source"] == "Shop"
    # Nothing of anyone else.
    assert "bob" not in json.dumps(data).lower()


def test_the_export_streams_a_profile_with_many_events(ada, client, marketer, source):
    now = timezone.now()
    Event.objects.bulk_create(
        Event(
            source=source,
            message_id=f"bulk-{i}",
            type="track",
            name="Page Scrolled",
            user_id=ADA["user_id"],
            timestamp=now - timedelta(seconds=i),
            received_at=now,
            properties={"depth": i, "text": "x" * 50},
            profile=ada,
        )
        for i in range(12_000)
    )
    response = client.get(f"/profiles/{ada.pk}/export/")
    chunks = list(response.streaming_content)
    # Sent in pieces as it is read, not built whole first.
    assert len(chunks) > 10
    assert max(len(chunk) for chunk in chunks) < 200_000
    data = json.loads(b"".join(chunks))
    assert len(data["events"]) == 12_005
    times = [e["timestamp"] for e in data["events"]]
    assert times == sorted(times)


def test_the_export_needs_a_login(ada, client):
    response = client.get(f"/profiles/{ada.pk}/export/")
    assert response.status_code == 302


def test_the_export_has_a_section_for_each_registered_kind_of_personal_data(ada):
    registered = dict(rights._holders)
    rights.personal_data_register(
        name="messages", export=lambda p: [{"channel": "email", "to": p.email}], delete=lambda p: 1
    )
    try:
        parts = rights.profile_export_parts(profile=ada)
    finally:
        rights._holders.clear()
        rights._holders.update(registered)
    assert parts["messages"] == [{"channel": "email", "to": ADA["email"]}]


# --- what campaigns keep about the person -----------------------------------------------------


@pytest.fixture
def campaigns_data():
    """What campaigns keep about people, registered as at start-up (and as it was after)."""
    from campaigns.timeline import personal_data_connect

    registered = dict(rights._holders)
    personal_data_connect()
    yield
    rights._holders.clear()
    rights._holders.update(registered)


@pytest.fixture
def ada_messages(ada):
    """A confirmation sent to Ada, a test send rendered with her data for a marketer's
    address, a cart reminder she never got (and why), and a message to Bob."""
    from campaigns.models import Campaign, Enrollment, Message
    from ingestion.models import CommerceRole

    cart = Campaign.objects.create(
        name="Abandoned cart", kind="abandoned_cart", trigger_role=CommerceRole.PRODUCT_ADDED
    )
    confirmation = Campaign.objects.create(
        name="Order confirmation",
        kind="order_confirmation",
        trigger_role=CommerceRole.ORDER_COMPLETED,
    )
    now = timezone.now()
    enrollment = Enrollment.objects.create(
        campaign=cart,
        profile=ada,
        trigger={"name": "Product Added", "timestamp": now.isoformat(), "properties": {}},
        trigger_at=now - timedelta(hours=2),
        due_at=now - timedelta(hours=1),
        state=Enrollment.State.EXITED,
        reason="converted: order completed",
    )
    common = {"channel": "email", "status": Message.Status.SENT, "sent_at": now}
    sent = Message.objects.create(
        campaign=confirmation,
        profile=ada,
        recipient=ADA["email"],
        subject="Your order ORD-ADA-1 is confirmed",
        text=f"Thank you, {ADA['name']}!",
        idempotency_key="k-ada",
        **common,
    )
    test_send = Message.objects.create(
        campaign=cart,
        rendered_for=ada,
        recipient="marketer@shop.test",
        subject="Still in your cart",
        text=f"Hi {ADA['name']}, call {ADA['phone']}",
        headers={"X-CDP-Test": "true"},
        idempotency_key="k-test",
        **common,
    )
    bob = Profile.objects.get(user_id="bob-1")
    bobs = Message.objects.create(
        campaign=confirmation,
        profile=bob,
        recipient="bob@example.com",
        subject="Your order ORD-BOB-1 is confirmed",
        idempotency_key="k-bob",
        **common,
    )
    for_bob = Message.objects.create(
        campaign=cart,
        rendered_for=bob,
        recipient="marketer@shop.test",
        subject="Still in your cart",
        idempotency_key="k-test-bob",
        **common,
    )
    return {
        "enrollment": enrollment,
        "sent": sent,
        "test_send": test_send,
        "bobs": [bobs, for_bob],
    }


def test_the_export_holds_the_persons_messages_test_sends_and_campaigns(
    ada, ada_messages, campaigns_data, client, marketer
):
    data = json.loads(b"".join(client.get(f"/profiles/{ada.pk}/export/").streaming_content))

    messages = {m["id"]: m for m in data["messages"]}
    assert set(messages) == {ada_messages["sent"].pk, ada_messages["test_send"].pk}
    sent = messages[ada_messages["sent"].pk]
    assert (sent["campaign"], sent["channel"], sent["status"], sent["recipient"]) == (
        "Order confirmation",
        "email",
        "sent",
        ADA["email"],
    )
    assert sent["subject"] == "Your order ORD-ADA-1 is confirmed" and not sent["test_send"]
    assert sent["created_at"] and sent["sent_at"]
    test_send = messages[ada_messages["test_send"].pk]
    assert test_send["test_send"] and test_send["recipient"] == "marketer@shop.test"
    assert ADA["name"] in test_send["text"]
    [enrollment] = data["campaign_enrollments"]
    assert (enrollment["campaign"], enrollment["trigger"], enrollment["state"]) == (
        "Abandoned cart",
        "Product Added",
        "exited",
    )
    assert enrollment["reason"] == "converted: order completed"
    assert "bob" not in json.dumps(data).lower()


def test_deleting_the_person_deletes_their_messages_and_test_sends_rendered_for_them(
    ada, ada_messages, campaigns_data, client, marketer
):
    from campaigns.models import Enrollment, Message

    values = [ADA[key] for key in ("email", "name", "phone")]
    assert any(place.startswith("campaigns_message.") for place in where_found(values))

    client.post(f"/profiles/{ada.pk}/delete/", {"suppress": "on"})

    assert where_found(values) == []
    assert not Enrollment.objects.filter(pk=ada_messages["enrollment"].pk).exists()
    assert set(Message.objects.all()) == set(ada_messages["bobs"])


def test_a_test_send_rendered_for_a_person_goes_with_them_even_unregistered(ada, ada_messages):
    """Every foreign key to a profile cascades through the ORM's delete, holders or not."""
    from campaigns.models import Message

    registered = dict(rights._holders)
    rights._holders.clear()
    try:
        rights.profile_delete(actor=Actor.system("test"), profile_id=ada.pk)
    finally:
        rights._holders.update(registered)
    assert set(Message.objects.all()) == set(ada_messages["bobs"])


# --- deletion --------------------------------------------------------------------------------


def test_the_delete_page_says_what_will_be_deleted(ada, client, marketer):
    response = client.get(f"/profiles/{ada.pk}/delete/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>5</strong> events" in html
    assert ADA["second_device"] in html
    assert 'name="suppress"' in html and "checked" in html


def test_deleting_with_suppression_leaves_no_value_of_the_person_anywhere(ada, client, marketer):
    values = [
        ADA[key] for key in ("user_id", "anonymous_id", "second_device", "email", "name", "phone")
    ]
    # Before: the fixture put her values in many places (else the scan proves nothing).
    before = where_found(values)
    assert any(place.startswith("ingestion_refusal.") for place in before)
    assert any(place.startswith("ingestion_activityproperty.examples") for place in before)
    assert any(place.startswith("ingestion_profileattribute.examples") for place in before)
    assert any(place.startswith("django_admin_log.") for place in before)
    assert any(place.startswith("profiles_profilemerge.") for place in before)

    response = client.post(f"/profiles/{ada.pk}/delete/", {"suppress": "on"})
    assert response.status_code == 302 and response["Location"] == "/profiles/"

    assert where_found(values) == []
    assert not Profile.objects.filter(pk=ada.pk).exists()
    for model in (Identity, Order, ConsentChange, ProfileNote):
        assert not model.objects.filter(profile_id=ada.pk).exists()
    assert not ProfileMerge.objects.filter(survivor_id=ada.pk).exists()
    record = ProfileDeletion.objects.get()
    assert (record.profile_id, record.deleted_by, record.suppressed) == (ada.pk, marketer, True)
    assert (record.events_deleted, record.identities_deleted) == (5, 4)
    assert SuppressedIdentity.objects.count() == 4
    # Bob is untouched, examples of his values too.
    bob = Profile.objects.get(user_id="bob-1")
    assert bob.events.count() == 2
    assert Order.objects.filter(profile=bob).count() == 1
    examples = ActivityProperty.objects.get(
        activity__name="Order Completed", path="gift_message"
    ).examples
    assert examples == ["For Bob"]
    assert ProfileAttribute.objects.get(path="name").examples == ["Bob Stone"]


def test_new_events_for_suppressed_ids_are_refused_and_make_no_profile(ada, ingest):
    rights.profile_delete(actor=Actor.system("test"), profile_id=ada.pk, suppress=True)
    refusals_before = Refusal.objects.count()
    response = ingest(
        "batch",
        {
            "batch": [
                {"type": "track", "event": "Product Viewed", "userId": ADA["user_id"]},
                {"type": "page", "anonymousId": ADA["second_device"]},
                {
                    "type": "identify",
                    "anonymousId": "new-device",
                    "traits": {"email": ADA["email"].upper()},
                },
                {"type": "alias", "previousId": ADA["anonymous_id"], "userId": "someone-new"},
                {"type": "track", "event": "Product Viewed", "userId": "carol-1"},
            ]
        },
    )
    body = response.json()
    assert response.status_code == 200
    assert body["accepted"] == 1
    assert [(r["index"], r["code"]) for r in body["refused"]] == [
        (0, "profile_suppressed"),
        (1, "profile_suppressed"),
        (2, "profile_suppressed"),
        (3, "profile_suppressed"),
    ]
    assert set(Profile.objects.values_list("user_id", flat=True)) == {"bob-1", "carol-1"}
    assert not Identity.objects.filter(value__in=[ADA["user_id"], "new-device"]).exists()
    # The debugger says why, and keeps nothing of what was sent.
    new = Refusal.objects.order_by("id")[refusals_before:]
    assert {r.code for r in new} == {"profile_suppressed"}
    assert all(r.excerpt == "" for r in new)
    assert where_found([ADA["user_id"], ADA["email"], ADA["second_device"]]) == []


def test_without_suppression_the_person_can_come_back_as_a_new_profile(ada, ingest):
    rights.profile_delete(actor=Actor.system("test"), profile_id=ada.pk, suppress=False)
    assert not SuppressedIdentity.objects.exists()
    response = ingest("track", {"event": "Product Viewed", "userId": ADA["user_id"]})
    assert response.json()["accepted"] == 1
    assert Profile.objects.get(user_id=ADA["user_id"]).pk != ada.pk


def test_suppressed_ids_are_kept_as_keyed_hashes_only(ada):
    rights.profile_delete(actor=Actor.system("test"), profile_id=ada.pk, suppress=True)
    hashes = set(SuppressedIdentity.objects.values_list("namespace", "value_hash"))
    assert ("email", rights.identity_hash("email", ADA["email"])) in hashes
    with override_settings(PROFILE_SUPPRESSION_KEY="another-key"):
        assert ("email", rights.identity_hash("email", ADA["email"])) not in hashes


def test_deleting_a_profile_with_many_events_takes_a_few_statements(
    ada, source, django_assert_max_num_queries
):
    now = timezone.now()
    Event.objects.bulk_create(
        Event(
            source=source,
            message_id=f"bulk-{i}",
            type="track",
            name="Page Scrolled",
            user_id=ADA["user_id"],
            timestamp=now,
            received_at=now,
            profile=ada,
        )
        for i in range(10_000)
    )
    with django_assert_max_num_queries(44):
        record = rights.profile_delete(actor=Actor.system("test"), profile_id=ada.pk, suppress=True)
    assert record.events_deleted == 10_005
    assert not Event.objects.filter(user_id=ADA["user_id"]).exists()


def test_the_suppression_check_costs_no_query_while_nothing_is_suppressed(
    ada, django_assert_num_queries
):
    keys = {("user_id", "someone")}
    rights.suppression_forget()  # a process that never asked
    with django_assert_num_queries(1):
        assert rights.identities_suppressed(keys) == set()  # asks once
    with django_assert_num_queries(0):
        assert rights.identities_suppressed(keys) == set()  # then trusts the answer
    rights.profile_delete(actor=Actor.system("test"), profile_id=ada.pk, suppress=True)
    with django_assert_num_queries(1):
        assert rights.identities_suppressed({("user_id", ADA["user_id"])}) == {
            ("user_id", ADA["user_id"])
        }


def test_another_process_notices_a_suppression_within_the_recheck_interval(
    ada, ingest, monkeypatch
):
    rights.identities_suppressed({("user_id", "warm-up")})  # "nothing is suppressed"
    rights.profile_delete(actor=Actor.system("test"), profile_id=ada.pk, suppress=True)
    rights._state.exists = False  # as another process still believes
    response = ingest("track", {"event": "Product Viewed", "userId": ADA["user_id"]})
    assert response.json()["accepted"] == 1  # within the interval: let through
    later = time.monotonic() + 6
    monkeypatch.setattr(rights.time, "monotonic", lambda: later)
    response = ingest("track", {"event": "Product Viewed", "userId": ADA["user_id"]})
    assert response.status_code == 400
    assert response.json()["code"] == "profile_suppressed"


def test_deleting_needs_a_post_with_the_csrf_token(ada, django_user_model):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("m2", "m2@example.com", "pw"))
    assert client.post(f"/profiles/{ada.pk}/delete/", {"suppress": "on"}).status_code == 403
    assert Profile.objects.filter(pk=ada.pk).exists()
    anonymous = Client()
    assert anonymous.post(f"/profiles/{ada.pk}/delete/").status_code == 302
    assert Profile.objects.filter(pk=ada.pk).exists()


# --- retention -------------------------------------------------------------------------------


@pytest.mark.parametrize("when", [datetime(2016, 1, 1, tzinfo=UTC)])
def test_the_api_still_clamps_old_times_that_imports_keep(ingest, when):
    response = ingest("track", {"event": "E", "userId": "u1", "timestamp": when.isoformat()})
    assert response.json()["accepted"] == 1
    event = Event.objects.get()
    assert "timestamp_out_of_range" in event.flags
    assert event.original_timestamp == when
