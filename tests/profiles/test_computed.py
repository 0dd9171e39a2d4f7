"""Traits, consent and computed attributes, folded from events into profiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.models import Activity, Event, Product
from profiles import computed
from profiles.computed.consent import consent_state
from profiles.computed.engagement import engagement_now
from profiles.computed.fields import COMPUTED_FIELDS
from profiles.models import ConsentChange, Identity, Order, Profile
from tests.conftest import process_stored

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_path_cache")]

NOW = datetime.now(UTC).replace(microsecond=0)


process = process_stored


def at(days: float = 0, hours: float = 0) -> str:
    return (NOW - timedelta(days=days, hours=hours)).isoformat()


def send(ingest, *messages: dict) -> None:
    response = ingest("batch", {"batch": list(messages)})
    assert response.status_code == 200, response.content
    assert response.json().get("refused", []) == [], response.json()
    process()


def track(user: str, event: str, properties: dict, when: str, **extra) -> dict:
    return {
        "type": "track",
        "userId": user,
        "event": event,
        "properties": properties,
        "timestamp": when,
        **extra,
    }


def identify(user: str, traits: dict, when: str, **extra) -> dict:
    return {"type": "identify", "userId": user, "traits": traits, "timestamp": when, **extra}


def profile_of(user_id: str) -> Profile:
    return Identity.objects.get(namespace="user_id", value=user_id).profile


def order(order_id: str, total, **extra) -> dict:
    return {"order_id": order_id, "total": total, **extra}


# --- traits and consent ----------------------------------------------------------------------


def test_traits_keep_the_newest_value_even_when_an_older_identify_arrives_late(ingest):
    send(ingest, identify("u1", {"plan": "gold", "first_name": "Ada"}, at(days=1)))
    send(ingest, identify("u1", {"plan": "free", "last_name": "Lovelace"}, at(days=3)))

    profile = profile_of("u1")
    assert profile.traits == {"plan": "gold", "first_name": "Ada", "last_name": "Lovelace"}
    assert profile.trait_times["plan"] == at(days=1)
    assert profile.trait_times["last_name"] == at(days=3)
    assert profile.name == "Ada Lovelace"


def test_consent_is_kept_with_when_and_how_and_a_late_older_grant_does_not_undo_a_withdrawal(
    ingest, source
):
    send(ingest, identify("u1", {"email": "ada@example.com", "email_opt_in": True}, at(days=5)))
    send(ingest, identify("u1", {"email_consent": "unsubscribed"}, at(days=1)))
    send(ingest, identify("u1", {"email_opt_in": "yes", "sms_opt_in": False}, at(days=3)))

    profile = profile_of("u1")
    assert profile.email_consent == "withdrawn"
    assert profile.email_consent_at.isoformat() == at(days=1)
    assert profile.sms_consent == "withdrawn"
    history = list(ConsentChange.objects.filter(profile=profile, channel="email"))
    assert [(c.state, c.at.isoformat()) for c in history] == [
        ("withdrawn", at(days=1)),
        ("granted", at(days=5)),
    ]
    assert history[1].how == f"email_opt_in trait on identify from {source.name}"


def test_a_consent_value_nobody_understands_changes_nothing(ingest):
    send(ingest, identify("u1", {"email_opt_in": True}, at(days=2)))
    send(ingest, identify("u1", {"email_opt_in": "maybe later"}, at(days=1)))

    assert profile_of("u1").email_consent == "granted"
    assert consent_state("maybe later") is None


# --- counts, orders and revenue --------------------------------------------------------------


def test_first_last_seen_and_event_count(ingest):
    send(
        ingest,
        track("u1", "Signed Up", {}, at(days=10)),
        {"type": "page", "userId": "u1", "name": "Home", "timestamp": at(days=2)},
        track("u1", "Signed Up", {}, at(days=4)),
    )
    profile = profile_of("u1")
    assert profile.event_count == 3
    assert profile.first_seen.isoformat() == at(days=10)
    assert profile.last_seen.isoformat() == at(days=2)
    assert profile.computed_at is not None


@override_settings(SITE_CURRENCY="USD", CURRENCY_RATES={"EUR": Decimal("1.10")})
def test_revenue_is_net_of_refunds_and_cancellations_in_the_site_currency(ingest):
    send(
        ingest,
        track("u1", "Order Completed", order("A", 100), at(days=30)),
        track("u1", "Order Completed", order("B", "50.00", currency="eur"), at(days=20)),
        track("u1", "Order Completed", order("C", 80), at(days=10)),
        # An order without a total counts its items.
        track(
            "u1",
            "Order Completed",
            {"order_id": "D", "products": [{"sku": "S", "price": 12.5, "quantity": 2}]},
            at(days=5),
        ),
    )
    send(
        ingest,
        track("u1", "Order Refunded", order("A", 30), at(days=29)),
        track("u1", "Order Cancelled", {"order_id": "C"}, at(days=9)),
    )

    orders = {o.order_id: o for o in Order.objects.all()}
    assert orders["A"].status == "partly_refunded" and orders["A"].net_revenue == Decimal(70)
    assert orders["B"].currency == "EUR" and orders["B"].total == Decimal(50)
    assert orders["B"].net_revenue == Decimal("55.00")
    assert orders["C"].status == "cancelled" and orders["C"].net_revenue == 0
    assert orders["D"].total == Decimal(25)

    profile = profile_of("u1")
    assert profile.orders_count == 3  # A, B, D: the cancelled one does not count
    assert profile.revenue == Decimal("150.00")  # 70 + 55 + 25
    assert profile.average_order_value == Decimal("50.00")
    assert profile.last_order_at.isoformat() == at(days=5)


def test_a_full_refund_leaves_the_order_worth_nothing(ingest):
    send(ingest, track("u1", "Order Completed", order("A", 40), at(days=3)))
    send(ingest, track("u1", "Order Refunded", {"order_id": "A"}, at(days=2)))

    assert Order.objects.get().status == "refunded"
    profile = profile_of("u1")
    assert (profile.orders_count, profile.revenue, profile.average_order_value) == (0, 0, None)


def test_one_order_sent_twice_by_two_sources_counts_once(ingest, source, write_key):
    send(ingest, track("u1", "Order Completed", order("A", 40), at(days=3)))
    other = services.source_create(actor=Actor.system("test"), name="App")
    response = ingest(
        "batch",
        {"batch": [track("u1", "Order Completed", order("A", 40), at(days=3))]},
        key=other.write_keys.get().key,
    )
    assert response.status_code == 200
    process()

    assert Order.objects.count() == 1
    assert profile_of("u1").revenue == Decimal(40)


def test_a_refund_that_arrives_before_its_order_is_applied_when_the_order_comes(ingest):
    send(ingest, track("u1", "Order Refunded", order("A", 15), at(days=1)))
    assert profile_of("u1").orders_count == 0
    send(ingest, track("u1", "Order Completed", order("A", 40), at(days=2)))

    found = Order.objects.get()
    assert (found.status, found.total, found.net_revenue) == ("partly_refunded", 40, 25)
    assert profile_of("u1").revenue == Decimal(25)


def test_a_mapped_activity_name_counts_as_an_order(ingest):
    send(ingest, track("u1", "purchase", order("A", 20), at(days=2)))
    assert profile_of("u1").orders_count == 0
    Activity.objects.filter(name="purchase").update(role="order_completed")
    send(ingest, track("u1", "purchase", order("B", 30), at(days=1)))

    assert profile_of("u1").revenue == Decimal(30)


# --- preferences and last viewed --------------------------------------------------------------


def test_preferences_count_viewed_and_bought_items_with_the_catalog_filling_gaps(ingest):
    Product.objects.create(key="BOOT", sku="BOOT", category="Shoes", brand="Alpina")
    send(
        ingest,
        # Only the sku: category and brand come from the product catalog.
        track("u1", "Product Viewed", {"sku": "BOOT"}, at(days=3)),
        track("u1", "Product Viewed", {"sku": "CAP", "category": "Hats"}, at(days=2)),
        track(
            "u1",
            "Order Completed",
            order(
                "A",
                99,
                products=[
                    {"sku": "BOOT", "price": 80},
                    {"sku": "SOCK", "price": 19, "category": "Socks", "brand": "Alpina"},
                ],
            ),
            at(days=1),
        ),
    )
    profile = profile_of("u1")
    assert profile.preferences["categories"] == {"Shoes": 4.0, "Socks": 3.0, "Hats": 1.0}
    assert profile.preferences["brands"] == {"Alpina": 7.0}
    assert [v["key"] for v in profile.last_viewed] == ["CAP", "BOOT"]


@override_settings(PROFILE_LAST_VIEWED=3)
def test_last_viewed_keeps_the_newest_distinct_products(ingest):
    send(
        ingest,
        *[
            track("u1", "Product Viewed", {"sku": sku}, at(hours=hours))
            for sku, hours in [("A", 9), ("B", 8), ("A", 1), ("C", 5), ("D", 7)]
        ],
    )
    assert [v["key"] for v in profile_of("u1").last_viewed] == ["A", "C", "D"]


# --- engagement --------------------------------------------------------------------------------


@override_settings(ENGAGEMENT_HALF_LIFE_DAYS=7)
def test_engagement_adds_points_per_activity_and_halves_every_half_life(ingest):
    send(
        ingest,
        track("u1", "Order Completed", order("A", 10), at(days=7)),  # 10 points
        track("u1", "Product Viewed", {"sku": "X"}, at(days=0)),  # 1 point
    )
    profile = profile_of("u1")
    assert profile.engagement_score == pytest.approx(10 * 0.5 + 1)
    assert profile.engagement_at.isoformat() == at()
    assert sum(profile.engagement_weeks.values()) == pytest.approx(11)
    assert engagement_now(profile, now=NOW + timedelta(days=7)) == pytest.approx(
        (10 * 0.5 + 1) * 0.5
    )


@override_settings(ENGAGEMENT_HALF_LIFE_DAYS=7)
def test_marketer_set_points_apply_to_past_events_after_a_recompute(ingest):
    send(ingest, track("u1", "Wishlist Added", {}, at(days=0)))
    assert profile_of("u1").engagement_score == pytest.approx(1)

    activity = Activity.objects.get(name="Wishlist Added")
    activity.engagement_points = 4
    activity.save()
    assert computed.engagement_points_changed(activity_ids=[activity.pk]) == 1
    assert profile_of("u1").engagement_score == pytest.approx(4)


@override_settings(ENGAGEMENT_HALF_LIFE_DAYS=10)
def test_the_scheduled_decay_brings_every_score_to_now(ingest):
    send(ingest, track("u1", "Product Viewed", {"sku": "X"}, at(days=10)))
    assert computed.profiles_engagement_decay(now=NOW) == 1
    profile = profile_of("u1")
    assert profile.engagement_score == pytest.approx(0.5)
    assert profile.engagement_at == NOW


# --- RFM ----------------------------------------------------------------------------------------


def test_rfm_scores_quintiles_over_customers_with_orders(ingest):
    # Five customers: c1 bought once long ago for little, c5 often, lately and for much.
    messages = []
    for n in range(1, 6):
        for k in range(n):
            messages.append(
                track(f"c{n}", "Order Completed", order(f"c{n}-{k}", 10 * n), at(days=60 - 10 * n))
            )
    messages.append(track("browser", "Product Viewed", {"sku": "X"}, at(days=1)))
    send(ingest, *messages)

    assert computed.profiles_rfm_refresh() == 5
    scores = {n: profile_of(f"c{n}").rfm_score for n in range(1, 6)}
    assert scores == {1: "111", 2: "222", 3: "333", 4: "444", 5: "555"}
    assert profile_of("browser").rfm_score == ""
    assert profile_of("c5").rfm_at is not None


def test_rfm_gives_equal_values_equal_scores(ingest):
    send(
        ingest,
        *[track(f"c{n}", "Order Completed", order(f"o{n}", 20), at(days=3)) for n in range(4)],
        track("big", "Order Completed", order("big-1", 500), at(days=1)),
        track("big", "Order Completed", order("big-2", 500), at(days=1)),
    )
    computed.profiles_rfm_refresh()
    assert {profile_of(f"c{n}").rfm_score for n in range(4)} == {"111"}
    assert profile_of("big").rfm_score == "555"


# --- merges and whole-history recompute ---------------------------------------------------------


def _history(anonymous: str) -> list[dict]:
    return [
        {
            "type": "track",
            "anonymousId": anonymous,
            "event": "Product Viewed",
            "properties": {"sku": "BOOT", "category": "Shoes"},
            "timestamp": at(days=4),
        },
        {
            "type": "identify",
            "anonymousId": anonymous,
            "traits": {"email_opt_in": True, "city": "Lyon"},
            "timestamp": at(days=3),
        },
    ]


def test_a_merge_carries_computed_values_orders_and_consent_to_the_survivor(ingest):
    send(ingest, *_history("anon-1"))
    send(ingest, track("u1", "Order Completed", order("A", 60), at(days=2)))
    assert Profile.objects.count() == 2

    # One event carries both ids: the two profiles are one person.
    send(ingest, track("u1", "Product Viewed", {"sku": "CAP"}, at(days=1), anonymousId="anon-1"))

    profile = Profile.objects.get()
    assert profile.event_count == 4
    assert profile.orders_count == 1 and profile.revenue == Decimal(60)
    assert profile.email_consent == "granted"
    assert ConsentChange.objects.get().profile == profile
    assert profile.preferences["categories"]["Shoes"] == 1
    assert [v["key"] for v in profile.last_viewed] == ["CAP", "BOOT"]
    assert profile.traits["city"] == "Lyon"

    merged = {field: getattr(profile, field) for field in COMPUTED_FIELDS}
    recomputed = computed.profile_recompute(profile_id=profile.pk)
    for field in COMPUTED_FIELDS:
        if field == "computed_at":
            continue
        value = getattr(recomputed, field)
        if field == "engagement_score":
            assert value == pytest.approx(merged[field]), field
        else:
            assert value == merged[field], field


def test_recompute_from_history_equals_the_incremental_values(ingest):
    Product.objects.create(key="BOOT", sku="BOOT", category="Shoes", brand="Alpina")
    send(ingest, *_history("anon-9"))
    send(
        ingest,
        identify(
            "u9", {"first_name": "Grace", "sms_opt_in": True}, at(days=2), anonymousId="anon-9"
        ),
        track("u9", "Product Viewed", {"sku": "BOOT"}, at(days=1, hours=5)),
    )
    send(ingest, identify("u9", {"first_name": "Old"}, at(days=6)))  # late and older
    send(
        ingest,
        track("u9", "Order Completed", order("Z", 75, products=[{"sku": "BOOT"}]), at(days=1)),
        {"type": "page", "userId": "u9", "timestamp": at(hours=3)},
    )
    profile = profile_of("u9")
    before = {field: getattr(profile, field) for field in COMPUTED_FIELDS}
    after = computed.profile_recompute(profile_id=profile.pk)
    for field in COMPUTED_FIELDS:
        if field == "computed_at":
            continue
        if field == "engagement_score":
            assert getattr(after, field) == pytest.approx(before[field])
        else:
            assert getattr(after, field) == before[field], field
    assert after.name == "Grace"


def test_folding_a_batch_costs_the_same_queries_whatever_its_size(ingest):
    def queries(n: int, prefix: str) -> int:
        messages = []
        for i in range(n):
            user = f"{prefix}{i % 7}"
            messages += [
                identify(user, {"email_opt_in": True, "name": f"N{i}"}, at(hours=i)),
                track(user, "Product Viewed", {"sku": f"S{i}", "category": "C"}, at(hours=i)),
                track(user, "Order Completed", order(f"{prefix}-{i}", 10), at(hours=i)),
            ]
        assert ingest("batch", {"batch": messages}).status_code == 200
        events = list(Event.objects.filter(processed_at__isnull=True))
        with CaptureQueriesContext(connection) as captured:
            computed.profiles_update(events)
        Event.objects.filter(pk__in=[e.pk for e in events]).update(processed_at=NOW)
        return len(captured)

    assert queries(10, "a") == queries(100, "b")


def test_profiles_processed_before_computed_attributes_existed_are_computed_on_start(ingest):
    send(ingest, track("u1", "Order Completed", order("A", 60), at(days=2)))
    Profile.objects.update(event_count=0, orders_count=0, revenue=0, computed_at=None)

    assert computed.profiles_recompute_stale() == 1
    profile = profile_of("u1")
    assert (profile.event_count, profile.orders_count, profile.revenue) == (1, 1, 60)
    assert computed.profiles_recompute_stale() == 0


def test_a_product_list_view_counts_each_listed_item_half_but_not_as_viewed(ingest):
    listed = {
        "list_id": "running",
        "products": [
            {"sku": "R1", "category": "Running", "brand": "Salomon"},
            {"sku": "R2", "category": "Running", "brand": "Hoka"},
            {"sku": "S1", "category": "Socks", "brand": "Salomon"},
        ],
    }
    send(ingest, track("u1", "Product List Viewed", listed, at(days=1)))
    profile = profile_of("u1")
    assert profile.preferences == {
        "categories": {"Running": 1.0, "Socks": 0.5},
        "brands": {"Salomon": 1.0, "Hoka": 0.5},
    }
    assert profile.last_viewed == []
    assert Activity.objects.get(name="Product List Viewed").role == "product_list_viewed"


def test_a_refund_sent_by_another_profile_changes_the_buyers_revenue(ingest):
    send(ingest, track("buyer", "Order Completed", order("O1", 100), at(days=3)))
    send(ingest, track("backoffice", "Order Refunded", order("O1", 30), at(days=2)))
    assert profile_of("buyer").revenue == Decimal(70)
    assert profile_of("backoffice").revenue == 0

    # The refund first, from the back office, then the buyer's order.
    send(ingest, track("backoffice", "Order Refunded", order("O2", 10), at(days=2)))
    send(ingest, track("buyer", "Order Completed", order("O2", 50), at(days=3)))
    assert Order.objects.get(order_id="O2").profile == profile_of("buyer")
    buyer = profile_of("buyer")
    assert (buyer.orders_count, buyer.revenue) == (2, Decimal(110))


def test_a_negative_refund_is_no_refund_even_before_its_order(ingest):
    send(ingest, track("u1", "Order Refunded", order("A", -50), at(days=2)))
    send(ingest, track("u1", "Order Completed", order("A", 100), at(days=3)))
    send(ingest, track("u1", "Order Refunded", order("A", -5), at(days=1)))
    found = Order.objects.get()
    assert (found.refunded, found.net_revenue, found.status) == (0, 100, "completed")


def test_last_order_at_counts_standing_orders_only(ingest):
    send(ingest, track("u1", "Order Completed", order("old", 40), at(days=300)))
    send(ingest, track("u1", "Order Completed", order("new", 40), at(days=1)))
    send(ingest, track("u1", "Order Cancelled", {"order_id": "new"}, at(hours=20)))
    assert profile_of("u1").last_order_at.isoformat() == at(days=300)


def test_refunds_and_cancellations_cost_the_same_queries_whatever_their_number(ingest):
    def queries(n: int, prefix: str) -> int:
        messages = []
        for i in range(n):
            user = f"{prefix}{i % 5}"
            messages += [
                track(user, "Order Completed", order(f"{prefix}-{i}", 10), at(hours=i + 2)),
                track(user, "Order Refunded", order(f"{prefix}-{i}", 2), at(hours=i + 1)),
                track("office", "Order Cancelled", {"order_id": f"{prefix}-c{i}"}, at(hours=i)),
            ]
        assert ingest("batch", {"batch": messages}).status_code == 200
        events = list(Event.objects.filter(processed_at__isnull=True))
        with CaptureQueriesContext(connection) as captured:
            computed.profiles_update(events)
        Event.objects.filter(pk__in=[e.pk for e in events]).update(processed_at=NOW)
        return len(captured)

    assert queries(5, "a") == queries(60, "b")
    assert Order.objects.filter(order_id__startswith="b-", status="partly_refunded").count() == 60


def test_a_recompute_keeps_consent_recorded_on_the_page_and_traits_of_deleted_events(
    ingest, django_user_model
):
    from profiles.services import profile_consent_set

    send(ingest, identify("u1", {"email_opt_in": True, "plan": "gold"}, at(days=3)))
    profile = profile_of("u1")
    profile_consent_set(
        actor=Actor.system("test"),
        profile=profile,
        channel="email",
        state="withdrawn",
        how="By phone",
    )
    Event.objects.filter(type="identify").delete()  # as retention would
    recomputed = computed.profile_recompute(profile_id=profile.pk)
    assert recomputed.email_consent == "withdrawn"
    assert recomputed.traits["plan"] == "gold"


def test_a_merge_and_a_recompute_agree_on_when_consent_was_first_given(ingest):
    send(
        ingest,
        {
            "type": "identify",
            "anonymousId": "an1",
            "traits": {"email_opt_in": True},
            "timestamp": at(days=5),
        },
    )
    send(ingest, identify("u1", {"email_opt_in": True}, at(days=2)))
    send(ingest, track("u1", "Product Viewed", {"sku": "X"}, at(days=1), anonymousId="an1"))
    merged = Profile.objects.get()
    assert merged.email_consent_at.isoformat() == at(days=5)
    recomputed = computed.profile_recompute(profile_id=merged.pk)
    assert recomputed.email_consent_at == merged.email_consent_at


@override_settings(ENGAGEMENT_HALF_LIFE_DAYS=7)
def test_negative_scores_decay_too(ingest):
    send(ingest, track("u1", "Complained", {}, at(days=7)))
    activity = Activity.objects.get(name="Complained")
    activity.engagement_points = -4
    activity.save()
    computed.engagement_points_changed(activity_ids=[activity.pk])
    assert profile_of("u1").engagement_score == pytest.approx(-4)
    computed.profiles_engagement_decay(now=NOW)
    assert profile_of("u1").engagement_score == pytest.approx(-2)


def test_two_orders_within_the_per_order_bound_add_up_in_the_profile(ingest):
    big = "900000000000.00"  # 9e11, below the per-order bound
    send(
        ingest,
        identify("whale", {"email": "whale@example.com"}, at(days=2)),
        track("whale", "Order Completed", order("w-1", big), at(days=2)),
        track("whale", "Order Completed", order("w-2", big), at(days=1)),
    )
    assert not Event.objects.filter(flags__contains=["processing_failed"]).exists()
    profile = profile_of("whale")
    assert profile.orders_count == 2
    assert profile.revenue == Decimal("1800000000000.00")
    assert profile.average_order_value == Decimal(big)
    assert Order.objects.filter(profile=profile).count() == 2


def test_an_order_amount_out_of_bounds_is_refused_by_index_with_the_reason(ingest, source):
    from ingestion.models import Refusal

    response = ingest(
        "batch",
        {
            "batch": [
                track("u1", "Order Completed", order("ok-1", 10), at(days=1)),
                track("u1", "Order Completed", order("huge", 1e12), at(days=1)),
                track("u1", "Order Completed", {"order_id": "h2", "revenue": "-5e15"}, at()),
                track(
                    "u1",
                    "Order Completed",
                    {"order_id": "h3", "products": [{"price": 9e11, "quantity": 3}]},
                    at(),
                ),
                track("u1", "Product Viewed", {"value": 1e15}, at()),
            ]
        },
    )
    body = response.json()
    assert response.status_code == 200 and body["accepted"] == 2
    refused = {item["index"]: item for item in body["refused"]}
    assert set(refused) == {1, 2, 3}
    assert {item["code"] for item in refused.values()} == {"amount_out_of_range"}
    assert "`properties.total`" in refused[1]["message"]
    assert "1,000,000,000,000" in refused[1]["message"]
    assert "`properties.revenue`" in refused[2]["message"]
    assert "`properties.products`" in refused[3]["message"]
    shown = Refusal.objects.get(source=source, index=1)
    assert shown.code == "amount_out_of_range" and "properties.total" in shown.message
