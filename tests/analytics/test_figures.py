"""Each figure of the dashboard and the analytics pages against the store of conftest.py,
computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from cdp_project.analytics.dashboard import dashboard_figures
from cdp_project.analytics.funnel import funnel_compute
from cdp_project.analytics.retention import retention_cohorts
from cdp_project.analytics.rfm import rfm_grid
from ingestion.models import Activity
from profiles.models import Order, Profile
from segments.models import Membership, Segment
from tests.analytics.conftest import NOW

pytestmark = pytest.mark.django_db

WEEK_AGO = NOW - timedelta(days=7)


def series(figures, name: str, attribute: str) -> list[int]:
    return next(s.values for s in getattr(figures, attribute) if s.name == name)


def test_events_per_hour_of_the_last_24_hours_by_source(store):
    figures = dashboard_figures()
    assert figures.hours[0] == datetime(2026, 6, 9, 13, tzinfo=UTC)
    assert figures.hours[-1] == datetime(2026, 6, 10, 12, tzinfo=UTC)
    hour = {h.hour: n for n, h in enumerate(figures.hours) if h.day == 10}
    web = series(figures, "Web", "hourly")
    app = series(figures, "App", "hourly")
    # Bob's identify, checkout and order at 08; his refund at 09; Ada's three steps at 10;
    # her order and Cy's view at 11. Bob's App events of 9 Jun 09:xx are over 24 hours old.
    assert {h: web[n] for h, n in hour.items() if web[n]} == {8: 3, 9: 1, 10: 3, 11: 2}
    assert {h: app[n] for h, n in hour.items() if app[n]} == {7: 3}
    assert sum(app) == 3 and figures.events_24h == 12


def test_events_per_day_of_the_last_30_days_by_source(store):
    figures = dashboard_figures()
    assert figures.days[0] == date(2026, 5, 12) and figures.days[-1] == date(2026, 6, 10)
    web = dict(zip(figures.days, series(figures, "Web", "daily"), strict=True))
    app = dict(zip(figures.days, series(figures, "App", "daily"), strict=True))
    assert {d.isoformat(): n for d, n in web.items() if n} == {
        "2026-05-19": 1,
        "2026-05-20": 1,
        "2026-05-26": 1,
        "2026-05-27": 2,
        "2026-06-02": 2,
        "2026-06-08": 1,
        "2026-06-10": 9,
    }
    # Gus's identify of 1 April is outside the 30 days.
    assert {d.isoformat(): n for d, n in app.items() if n} == {"2026-06-09": 2, "2026-06-10": 3}
    # The busiest source first, in both charts.
    assert [s.name for s in figures.daily] == ["Web", "App"]
    assert [s.name for s in figures.hourly] == ["Web", "App"]


def test_top_activities_with_the_week_before(store):
    trends = {t.label: (t.count, t.previous) for t in dashboard_figures().top_activities}
    assert trends == {
        "Product Viewed": (4, 0),
        "Order Completed": (3, 1),
        "Product Added": (3, 0),
        "Checkout Started": (2, 0),
        "Identify calls": (1, 0),
        "Order Refunded": (1, 0),
        "Page viewed": (1, 0),
        "Order Cancelled": (0, 1),
    }
    top = dashboard_figures().top_activities
    assert top[0].label == "Product Viewed"
    ordered = next(t for t in top if t.label == "Order Completed")
    assert ordered.change == 2.0
    assert ordered.daily[-1] == 3 and ordered.daily[TREND_INDEX_2_JUNE] == 1
    assert ordered.activity_id == Activity.objects.get(name="Order Completed").pk


# 2 June is the sixth day of the 14 (28 May … 10 June).
TREND_INDEX_2_JUNE = 5


def test_new_profiles_known_share_and_orders(store):
    figures = dashboard_figures()
    # Ada, Bob, Cy, Dee, Eve and Frank were first seen in the last 30 days; Gus in April.
    assert figures.new_profiles == 6
    days = dict(zip(figures.days, figures.new_profiles_daily, strict=True))
    assert days[date(2026, 6, 10)] == 2  # Cy and Dee
    assert days[date(2026, 6, 9)] == 1  # Bob, anonymous then, one profile since
    # Seen in the last 30 days: seven people, Cy the only anonymous one. Bob identified.
    assert (figures.active_profiles, figures.known_profiles) == (7, 6)
    assert figures.anonymous_profiles == 1
    assert figures.known_share == pytest.approx(6 / 7)
    # O-0, O-1, O-2 (partly refunded), O-3, O-4, O-5 stand; O-6 and O-7 were cancelled.
    assert figures.orders == 6
    assert figures.revenue == Decimal("260.00")  # 40 + 100 + (50 - 20) + 30 + 25 + 35
    assert (figures.orders_previous, figures.revenue_previous) == (0, Decimal("0"))
    revenue = dict(zip(figures.days, figures.revenue_daily, strict=True))
    assert revenue[date(2026, 6, 10)] == 160.0 and revenue[date(2026, 6, 2)] == 0.0


def test_an_order_far_above_the_median_is_shown_apart_from_net_revenue(store):
    figures = dashboard_figures()
    # Six ordinary orders: median 32.50, nothing ten times above it.
    assert figures.median_order == Decimal("32.50") and figures.outliers == []
    assert figures.revenue_typical == figures.revenue
    ada = Profile.objects.get(user_id="ada")
    Order.objects.create(
        profile=ada, order_id="TEST-1", placed_at=NOW - timedelta(days=1), total=99_999,
        net_revenue=Decimal("99999.00"),
    )  # fmt: skip
    figures = dashboard_figures()
    assert figures.median_order == Decimal("35.00")
    assert [(o.order_id, o.profile_id) for o in figures.outliers] == [("TEST-1", ada.pk)]
    assert figures.outliers_count == 1 and figures.outliers_revenue == Decimal("99999.00")
    assert figures.revenue == Decimal("100259.00") and figures.revenue_typical == Decimal("260")
    typical = dict(zip(figures.days, figures.revenue_daily_typical, strict=True))
    assert typical[date(2026, 6, 9)] == 0.0 and typical[date(2026, 6, 10)] == 160.0


def people(funnel) -> list[int]:
    return [step.people for step in funnel.steps]


def test_funnel_counts_people_who_did_the_steps_in_order(store):
    funnel = funnel_compute(start=WEEK_AGO, end=NOW)
    # Viewed: Ada, Bob (while anonymous), Cy, Dee. Added after viewing: Ada and Bob (Dee
    # added before she viewed). Checkout and order: Ada and Bob (Dee ordered without one).
    assert people(funnel) == [4, 2, 2, 2]
    viewed, added, checkout, ordered = funnel.steps
    assert viewed.conversion is None and viewed.dropped == 0
    assert added.conversion == 0.5 and added.dropped == 2 and added.drop_off == 0.5
    assert checkout.conversion == 1.0 and ordered.of_first == 0.5
    assert added.names == ["Product Added"]


def test_funnel_per_source(store):
    app = funnel_compute(start=WEEK_AGO, end=NOW, source_id=store["app"].pk)
    web = funnel_compute(start=WEEK_AGO, end=NOW, source_id=store["web"].pk)
    # App: Bob and Dee viewed, Bob added; his checkout and order came from the Web.
    assert people(app) == [2, 1, 0, 0]
    assert app.steps[2].conversion == 0.0
    # Web: Ada and Cy viewed, Ada went on; Bob never viewed on the Web.
    assert people(web) == [2, 1, 1, 1]


def test_funnel_over_a_chosen_period(store):
    today = funnel_compute(start=datetime(2026, 6, 10, tzinfo=UTC), end=NOW)
    # Bob's view and add of 9 June are outside: he is not at step one.
    assert people(today) == [3, 1, 1, 1]
    assert people(funnel_compute(start=NOW - timedelta(days=90), end=WEEK_AGO)) == [0, 0, 0, 0]


def test_funnel_for_the_people_of_a_segment(store):
    segment = Segment.objects.create(name="Chosen")
    for user_id in ("ada", "dee"):
        Membership.objects.create(segment=segment, profile=Profile.objects.get(user_id=user_id))
    assert people(funnel_compute(start=WEEK_AGO, end=NOW, segment_id=segment.pk)) == [2, 1, 1, 1]


def test_funnel_steps_follow_the_catalogs_commerce_roles(store):
    # A marketer says `Checkout Started` is no checkout here: nobody reaches step three.
    Activity.objects.filter(name="Checkout Started").update(role="")
    funnel = funnel_compute(start=WEEK_AGO, end=NOW)
    assert people(funnel) == [4, 2, 0, 0]
    assert funnel.steps[2].names == []
    # And maps their own name to it instead: Dee's `Product Added` of 07:00 is no help, but
    # mapping `Order Refunded` (Bob's, after his order) to checkout makes Bob reach it.
    Activity.objects.filter(name="Order Refunded").update(role="checkout_started")
    assert people(funnel_compute(start=WEEK_AGO, end=NOW)) == [4, 2, 1, 0]


def test_retention_cohorts_by_week_of_first_order(store):
    retention = retention_cohorts(weeks=4)
    weeks = [c.week.isoformat() for c in retention.cohorts]
    assert weeks == ["2026-05-18", "2026-05-25", "2026-06-01", "2026-06-08"]
    first, second, third, current = retention.cohorts
    # Ada (20 May) and Eve (19 May). Eve ordered again the next week; her order of 2 June
    # was cancelled and does not count; Ada ordered again in the week of 8 June.
    assert first.size == 2 and first.returned == [1, 0, 1]
    assert first.shares == [0.5, 0.0, 0.5]
    # Frank's only order was cancelled: he is no customer. Eve's later orders are no cohort.
    assert (second.size, second.returned) == (0, [0, 0])
    assert (third.size, third.returned) == (0, [0])
    # Bob (partly refunded, still an order) and Dee ordered first this week.
    assert (current.size, current.returned) == (2, [])
    assert len(list(current.pending)) == 3


def test_rfm_grid_spreads_customers_over_the_cells(store):
    # Four customers with an order that stands (Frank has none). By percent rank:
    # recency Eve 1, Dee 2, Bob 4, Ada 5; frequency Bob and Dee 1, Ada and Eve 4;
    # monetary Bob and Dee 1 (30 each), Eve 4 (60), Ada 5 (140).
    grid = rfm_grid()
    cells = {(c.recency, c.frequency, c.monetary): c.customers for c in grid.cells}
    assert cells == {(1, 4, 4): 1, (2, 1, 1): 1, (4, 1, 1): 1, (5, 4, 5): 1}
    assert grid.customers == 4
    table = {(c.recency, c.frequency): c.customers for row in grid.rows for c in row}
    assert len(table) == 25 and sum(table.values()) == 4
    assert table[(5, 4)] == 1 and table[(4, 1)] == 1 and table[(5, 5)] == 0
    assert [row[0].recency for row in grid.rows] == [5, 4, 3, 2, 1]
    assert grid.by_monetary == {1: 2, 2: 0, 3: 0, 4: 1, 5: 1}
    low = rfm_grid(monetary=1)
    low_table = {(c.recency, c.frequency): c.customers for row in low.rows for c in row}
    assert {key for key, n in low_table.items() if n} == {(4, 1), (2, 1)}
    assert low.rows[1][0].query == {"rfm_r": 4, "rfm_f": 1, "rfm_m": 1}


def test_the_dashboard_costs_a_fixed_handful_of_queries(store, django_assert_max_num_queries):
    # The rollup (its mark, its rows, the live rows past the mark, the newest id), source
    # names, the catalog's labels, two on profiles and four on orders (totals, per day, the
    # median order, the orders far above it): never one per event, per hour or per source.
    with django_assert_max_num_queries(12):
        dashboard_figures()


def test_hours_and_days_are_the_site_time_zones_even_half_an_hour_off_utc(store):
    from django.utils import timezone

    from cdp_project.templatetags.analytics_tags import hourly_chart

    with timezone.override("Asia/Kolkata"):  # UTC+05:30
        figures = dashboard_figures()
        chart = hourly_chart(figures)
    # Bob's three Web events of 08:00-08:10 UTC fall in the hour from 13:30 there.
    assert "<title>13:30: 3 events (Web 3)</title>" in chart
    assert figures.days[-1] == date(2026, 6, 10)  # 18:00 there
    assert sum(series(figures, "Web", "hourly")) == 9
