"""The activity catalog: discovery of activities, paths and types from stored events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.catalog import services as catalog_services
from ingestion.catalog.paths import path_join, path_parse
from ingestion.models import (
    Activity,
    ActivityDay,
    ActivityProperty,
    CatalogCount,
    CommerceRole,
    Event,
    ProfileAttribute,
    Refusal,
)
from tests.conftest import process_stored

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_path_cache")]


process = process_stored


def track(event: str, properties: dict, **extra) -> dict:
    return {"type": "track", "event": event, "userId": "u1", "properties": properties, **extra}


def prop(activity_name: str, path: str) -> ActivityProperty:
    return ActivityProperty.objects.get(activity__name=activity_name, path=path)


ORDER = {
    "order_id": "o-1",
    "total": 129.5,
    "coupon": None,
    "shipping": {"method": "express", "address": {"city": "Lyon"}},
    "products": [
        {"sku": "SKU-1", "name": "Trail shoe", "price": 89.5, "quantity": 1, "tags": ["run"]},
        {"sku": "SKU-2", "name": "Sock", "price": 20, "quantity": 2, "on_sale": True},
    ],
}


def test_first_event_of_a_name_creates_the_activity_with_every_nested_and_array_path(ingest):
    assert ingest("track", track("Order Completed", ORDER)).status_code == 200
    process()

    activity = Activity.objects.get(kind="track", name="Order Completed")
    assert activity.volume == 1
    paths = {p.path: p.type for p in activity.properties.all()}
    assert paths == {
        "order_id": "string",
        "total": "number",
        "shipping": "object",
        "shipping.method": "string",
        "shipping.address": "object",
        "shipping.address.city": "string",
        "products": "array",
        "products[]": "object",
        "products[].sku": "string",
        "products[].name": "string",
        "products[].price": "number",
        "products[].quantity": "number",
        "products[].tags": "array",
        "products[].tags[]": "string",
        "products[].on_sale": "boolean",
    }
    # A null is no value: `coupon` has not been seen yet.
    assert "coupon" not in paths
    # Each item field counts once per event, however many items carried it.
    assert prop("Order Completed", "products[].price").volume == 1
    assert activity.property_count == len(paths)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Shoes", "string"),
        ("19.99", "string"),
        (19.99, "number"),
        (3, "number"),
        (False, "boolean"),
        ("2026-11-25T10:00:00Z", "datetime"),
        ("2026-11-25T10:00:00.123+01:00", "datetime"),
        ("2026-11-25", "datetime"),
        ("2026-13-45", "string"),
        ({"a": 1}, "object"),
        ([1, 2], "array"),
    ],
)
def test_each_type_is_inferred(ingest, value, expected):
    ingest("track", track("Typed", {"value": value}))
    process()
    assert prop("Typed", "value").type == expected


def test_keys_with_dots_and_brackets_are_escaped_in_paths(ingest):
    ingest("track", track("Odd keys", {"a.b": 1, "c[d]": {"e": "x"}}))
    process()
    paths = set(ActivityProperty.objects.values_list("path", flat=True))
    assert paths == {"a\\.b", "c\\[d\\]", "c\\[d\\].e"}
    assert path_parse("c\\[d\\].e") == ["c[d]", "e"]


def test_paths_parse_and_refuse_malformed_ones():
    assert path_parse("products[].price") == ["products", None, "price"]
    assert path_parse("matrix[][]") == ["matrix", None, None]
    assert path_parse(path_join("meta", "x.y")) == ["meta", "x.y"]
    for bad in ["", "a..b", "a.", "[]", "a[0]", "a]", "a\\", "a[]b"]:
        with pytest.raises(ValueError):
            path_parse(bad)


def test_page_and_screen_calls_are_activities_of_their_own(ingest):
    ingest(
        "batch",
        {
            "batch": [
                {"type": "page", "name": "Home", "anonymousId": "a1", "properties": {"url": "/"}},
                {"type": "page", "name": "Shoes", "anonymousId": "a1", "properties": {"x": 1}},
                {"type": "screen", "name": "Cart", "anonymousId": "a1"},
                {"type": "track", "event": "Home", "anonymousId": "a1"},
            ]
        },
    )
    process()
    page = Activity.objects.get(kind="page")
    assert (page.name, page.label, page.volume) == ("", "Page viewed", 2)
    assert set(page.properties.values_list("path", flat=True)) == {"url", "x"}
    assert Activity.objects.get(kind="screen").volume == 1
    assert Activity.objects.get(kind="track", name="Home").volume == 1


def test_identify_traits_are_discovered_as_profile_attributes(ingest):
    ingest(
        "batch",
        {
            "batch": [
                {
                    "type": "identify",
                    "userId": "u1",
                    "traits": {"plan": "gold", "address": {"city": "Paris"}, "age": 41},
                },
                # Mobile SDKs and RudderStack put traits in context.traits.
                {"type": "identify", "userId": "u2", "context": {"traits": {"plan": "free"}}},
            ]
        },
    )
    process()
    attributes = {a.path: a for a in ProfileAttribute.objects.all()}
    assert set(attributes) == {"plan", "address", "address.city", "age"}
    assert attributes["plan"].volume == 2
    assert attributes["age"].type == "number"
    assert CatalogCount.objects.get(key="identify").count == 2
    # Identify is not an activity.
    assert not Activity.objects.exists()


def test_volume_first_and_last_seen_and_days_follow_the_event_times(ingest):
    day1 = datetime(2026, 11, 20, 9, tzinfo=UTC)
    day2 = day1 + timedelta(days=2)
    ingest(
        "batch",
        {
            "batch": [
                track("Searched", {"q": "a"}, timestamp=day2.isoformat()),
                track("Searched", {"q": "b"}, timestamp=day1.isoformat()),
                track("Searched", {"q": "c"}, timestamp=day1.isoformat()),
            ]
        },
    )
    process()
    ingest("track", track("Searched", {"q": "d"}, timestamp=day2.isoformat()))
    process()
    activity = Activity.objects.get(name="Searched")
    assert activity.volume == 4
    assert (activity.first_seen, activity.last_seen) == (day1, day2)
    days = dict(ActivityDay.objects.filter(activity=activity).values_list("day", "count"))
    assert days == {day1.date(): 2, day2.date(): 2}
    query = prop("Searched", "q")
    assert (query.volume, query.first_seen, query.last_seen) == (4, day1, day2)


def test_a_type_change_is_recorded_with_counts_and_a_pinned_type_decides(ingest):
    ingest("batch", {"batch": [track("Product Viewed", {"price": 10}) for _ in range(3)]})
    process()
    ingest("track", track("Product Viewed", {"price": "12.50"}))
    process()
    price = prop("Product Viewed", "price")
    assert price.type_counts == {"string": 1, "number": 3}
    assert price.has_drift
    assert price.type == "number"  # the most frequent type, not silently the first

    ingest("batch", {"batch": [track("Product Viewed", {"price": "9"}) for _ in range(4)]})
    process()
    price.refresh_from_db()
    assert price.type_counts == {"string": 5, "number": 3}
    assert price.type == "string"

    catalog_services.field_update(
        actor=Actor.system("test"),
        field=price,
        display_name="Price",
        description="",
        personal=False,
        pinned_type="number",
    )
    price.refresh_from_db()
    assert (price.type, price.inferred_type, price.label) == ("number", "string", "Price")


def test_examples_are_the_newest_distinct_values_and_bounded(ingest):
    for value in ["a", "b", "a", "c", "d", "e", "f", "g"]:
        ingest("track", track("Tagged", {"tag": value}))
        process()
    assert prop("Tagged", "tag").examples == ["g", "f", "e", "d", "c"]


def test_examples_of_one_batch_are_its_newest_values_first_whatever_the_order_sent(ingest):
    start = datetime.now(UTC) - timedelta(hours=1)
    values = {3: ["c", "x"], 1: ["a"], 5: ["e", "c"], 2: ["b", "e"], 4: ["d"], 6: ["x"]}
    batch = [
        track("Tagged", {"tags": tags}, timestamp=(start + timedelta(minutes=m)).isoformat())
        for m, tags in values.items()
    ]
    assert ingest("batch", {"batch": batch}).status_code == 200
    process()
    # Minute 6 first, then each older event's values not kept yet, in its own order.
    assert prop("Tagged", "tags[]").examples == ["x", "e", "c", "d", "b"]
    assert prop("Tagged", "tags[]").volume == 6


def test_values_that_mask_alike_are_one_example_and_leave_room_for_others(ingest):
    start = datetime.now(UTC) - timedelta(hours=1)
    older = {"contacts": ["a", "b", "c"]}
    newer = {"contacts": ["john@example.com", "jane@example.com", "jim@example.com"]}
    batch = [
        track("Shared", props, timestamp=(start + timedelta(minutes=m)).isoformat())
        for m, props in ((1, older), (2, newer))
    ]
    assert ingest("batch", {"batch": batch}).status_code == 200
    process()
    assert prop("Shared", "contacts[]").examples == ["j•••@e•••.com", "a", "b", "c"]


def test_email_and_phone_like_examples_are_masked(ingest):
    ingest(
        "track",
        track(
            "Contact",
            {
                "contact": "jane.doe@example.com",
                "support_line": "+33 6 12 34 56 78",
                "whatsapp": 612345678,
                "order_number": "10023456",
                "note": "hello",
            },
        ),
    )
    process()
    assert prop("Contact", "contact").examples == ["j•••@e•••.com"]
    assert prop("Contact", "support_line").examples == ["•••••••••78"]
    assert prop("Contact", "whatsapp").examples == ["•••••••78"]
    # Bare digits under a key that is not a phone's stay as they are.
    assert prop("Contact", "order_number").examples == ["10023456"]
    assert prop("Contact", "note").examples == ["hello"]


@override_settings(CATALOG_MASK_CONTACT_EXAMPLES=False)
def test_masking_can_be_turned_off_and_long_values_are_still_cut(ingest):
    ingest("track", track("Contact", {"contact": "jane.doe@example.com", "note": "x" * 5000}))
    process()
    assert prop("Contact", "contact").examples == ["jane.doe@example.com"]
    assert prop("Contact", "note").examples == ["x" * 120 + "…"]


def test_personal_fields_keep_no_examples(ingest):
    ingest("track", track("Signed Up", {"email": "a@b.co", "first_name": "Ann", "plan": "x"}))
    process()
    # Fields named like personal data start out personal.
    assert prop("Signed Up", "email").personal
    assert prop("Signed Up", "email").examples == []
    assert prop("Signed Up", "first_name").examples == []
    plan = prop("Signed Up", "plan")
    assert plan.examples == ["x"] and not plan.personal

    catalog_services.field_update(
        actor=Actor.system("test"),
        field=plan,
        display_name="",
        description="",
        personal=True,
        pinned_type="",
    )
    assert prop("Signed Up", "plan").examples == []
    ingest("track", track("Signed Up", {"plan": "y"}))
    process()
    plan = prop("Signed Up", "plan")
    assert plan.examples == [] and plan.volume == 2


def test_spec_names_get_their_commerce_role_and_others_can_be_mapped(ingest):
    ingest(
        "batch",
        {
            "batch": [
                track("Product Added", {}),
                track("order_completed", {}),
                track("add_to_cart", {}),
            ]
        },
    )
    process()
    roles = dict(Activity.objects.values_list("name", "role"))
    assert roles == {
        "Product Added": CommerceRole.PRODUCT_ADDED,
        "order_completed": CommerceRole.ORDER_COMPLETED,
        "add_to_cart": "",
    }
    add_to_cart = Activity.objects.get(name="add_to_cart")
    catalog_services.activity_update(
        actor=Actor.system("test"),
        activity=add_to_cart,
        display_name="Added to cart",
        description="Sent by the shop's cart button.",
        role=CommerceRole.PRODUCT_ADDED,
        status=Activity.Status.ACTIVE,
    )
    from ingestion.catalog.selectors import activities_for_role

    assert {a.name for a in activities_for_role(role=CommerceRole.PRODUCT_ADDED)} == {
        "Product Added",
        "add_to_cart",
    }


def test_events_of_a_blocked_activity_are_refused_per_event_and_counted(
    ingest, source, django_capture_on_commit_callbacks
):
    ingest("track", track("Spam", {"x": 1}))
    process()
    spam = Activity.objects.get(name="Spam")
    catalog_services.activity_update(
        actor=Actor.system("test"),
        activity=spam,
        display_name="",
        description="",
        role="",
        status=Activity.Status.BLOCKED,
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = ingest(
            "batch",
            {"batch": [track("Spam", {}), track("Kept", {}), track("Spam", {}, messageId="m-3")]},
        )
    body = response.json()
    assert response.status_code == 200
    assert [(r["index"], r["code"]) for r in body["refused"]] == [
        (0, "activity_blocked"),
        (2, "activity_blocked"),
    ]
    assert "Spam" in body["refused"][0]["message"]
    assert list(Event.objects.filter(name="Spam").values_list("pk", flat=True)).__len__() == 1
    assert Event.objects.filter(name="Kept").count() == 1
    refusal = Refusal.objects.get(source=source, message_id="m-3")
    assert refusal.code == "activity_blocked" and "Spam" in refusal.excerpt
    spam.refresh_from_db()
    assert (spam.blocked_count, spam.volume) == (2, 1)

    # Unblocked, it is accepted again on the next request.
    catalog_services.activity_update(
        actor=Actor.system("test"),
        activity=spam,
        display_name="",
        description="",
        role="",
        status=Activity.Status.ACTIVE,
    )
    assert ingest("track", track("Spam", {})).json().get("refused") in (None, [])
    assert Event.objects.filter(name="Spam").count() == 2


def test_a_blocked_single_event_call_gets_400_with_the_reason(ingest):
    Activity.objects.create(kind="track", name="Spam", status=Activity.Status.BLOCKED)
    response = ingest("track", track("Spam", {}))
    assert response.status_code == 400
    assert response.json()["code"] == "activity_blocked"


def test_blocking_page_calls_refuses_every_page_call(ingest):
    Activity.objects.create(kind="page", name="", status=Activity.Status.BLOCKED)
    response = ingest(
        "batch",
        {
            "batch": [
                {"type": "page", "name": "Home", "anonymousId": "a"},
                {"type": "screen", "name": "Home", "anonymousId": "a"},
            ]
        },
    )
    assert [r["index"] for r in response.json()["refused"]] == [0]
    assert list(Event.objects.values_list("type", flat=True)) == ["screen"]


@override_settings(CATALOG_MAX_PROPERTIES_PER_ACTIVITY=3)
def test_an_activity_stops_collecting_new_properties_at_its_limit(ingest):
    ingest("track", track("Wide", {"a": 1, "b": 1}))
    process()
    ingest("track", track("Wide", {"a": 2, "c": 1, "d": 1, "e": 1}))
    process()
    activity = Activity.objects.get(name="Wide")
    assert activity.property_count == 3
    assert activity.properties_truncated
    assert activity.properties.count() == 3
    # Known properties keep counting.
    assert prop("Wide", "a").volume == 2


def _batch(size: int, offset: int = 0) -> dict:
    return {
        "batch": [
            track(
                f"Bulk {i % 3}",
                {**ORDER, "n": i, f"extra_{i % 5}": "x"},
                messageId=f"bulk-{offset + i}",
            )
            for i in range(size)
        ]
        + [
            {"type": "identify", "userId": f"u{i}", "traits": {"plan": "gold", "n": i}}
            for i in range(size // 10)
        ]
    }


def test_discovery_of_a_batch_costs_a_fixed_number_of_queries(ingest):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def processing_queries(size: int, offset: int) -> int:
        ingest("batch", _batch(size, offset))
        ids = list(Event.objects.filter(processed_at__isnull=True).values_list("pk", flat=True))
        with CaptureQueriesContext(connection) as queries:
            assert services.events_process(event_ids=ids) == size + size // 10
        return len(queries)

    first = processing_queries(20, 0)  # creates every activity, path and attribute
    small = processing_queries(20, 100)
    large = processing_queries(400, 1000)
    # Nothing depends on the batch size: the same statements for 22 or 440 events.
    assert small == large
    # lock the events' profiles, then lock and read the events, a savepoint around the
    # processors, the catalog upserts, the profiles fold (activities, sources, lock the
    # profiles, write them), the active campaigns, whether a journey enters on a segment,
    # the mark
    assert first <= 24 and large <= first
    assert Activity.objects.get(name="Bulk 0").volume == 7 + 7 + 134


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_the_same_activities_add_up_without_deadlock(ingest):
    import threading

    from django.db import connection

    for part in range(4):
        ingest("batch", _batch(60, offset=part * 1000))
    ids = sorted(Event.objects.values_list("pk", flat=True))
    chunks = [ids[i::4] for i in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(chunks))

    def work(chunk: list[int]) -> None:
        try:
            barrier.wait()
            services.events_process(event_ids=chunk)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert not Event.objects.filter(processed_at__isnull=True).exists()
    assert sum(Activity.objects.values_list("volume", flat=True)) == 240
    assert ProfileAttribute.objects.get(path="plan").volume == 24
    assert CatalogCount.objects.get(key="identify").count == 24
    assert prop("Bulk 0", "products[].price").volume == 80


def test_a_field_unmarked_personal_keeps_examples_again(ingest):
    ingest("track", track("Signed Up", {"first_name": "Ann"}))
    process()
    field = prop("Signed Up", "first_name")
    assert field.personal and field.examples == []
    catalog_services.field_update(
        actor=Actor.system("test"),
        field=field,
        display_name="",
        description="",
        personal=False,
        pinned_type="",
    )
    ingest("track", track("Signed Up", {"first_name": "Bea"}))
    process()
    assert prop("Signed Up", "first_name").examples == ["Bea"]


def test_dates_decimals_and_addresses_are_not_mistaken_for_phone_numbers(ingest):
    values = {"day": "2026-11-20", "ratio": "1234567.89", "host": "192.168.10.1"}
    ingest("track", track("Misc", values))
    process()
    for key, value in values.items():
        assert prop("Misc", key).examples == [value]


def test_examples_keep_the_order_of_the_newest_event_and_tell_1_from_true(ingest):
    ingest("track", track("Listed", {"tags": ["a", "b", "c"], "flag": [1, True]}))
    process()
    assert prop("Listed", "tags[]").examples == ["a", "b", "c"]
    assert prop("Listed", "flag[]").examples == [1, True]


def test_a_path_too_long_to_store_is_skipped_and_the_batch_still_processed(ingest):
    ingest(
        "batch",
        {
            "batch": [
                track("Long", {"k" * 600: 1, "dots" + "." * 300: 2, "ok": 3}),
                track("Other", {"fine": True}),
            ]
        },
    )
    assert process() == 2
    assert set(ActivityProperty.objects.values_list("path", flat=True)) == {"ok", "fine"}
