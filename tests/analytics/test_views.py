"""The dashboard and the analytics pages: signed in only, charts with their numbers, the
funnel's htmx fragment, CSV downloads, escaping, and the profile list's RFM filter."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.rollups import event_hours_refresh
from profiles.models import Order, Profile
from tests.analytics.conftest import NOW, send, track
from tests.conftest import process_stored

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/dashboard.csv",
    "/analytics/funnel/",
    "/analytics/funnel.csv",
    "/analytics/retention/",
    "/analytics/retention.csv",
    "/analytics/rfm/",
    "/analytics/rfm.csv",
]


@pytest.fixture
def marketer(django_user_model, client: Client) -> Client:
    user = django_user_model.objects.create_user("marketer", "m@example.com", "pw-123456")
    client.force_login(user)
    return client


@pytest.mark.parametrize("url", PAGES)
def test_every_page_needs_a_login(db, client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def rows_of(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_dashboard_draws_its_charts_with_numbers_on_hover(store, marketer):
    html = marketer.get("/").content.decode()
    # The old cards stay.
    assert "Processing backlog" in html and "Latest event" in html
    # The hourly chart: Web's 08:00 bar carries Bob's three events in its title.
    assert "<title>08:00: 3 events (Web 3)</title>" in html
    assert "<title>07:00: 3 events (App 3)</title>" in html
    # The daily chart: 10 June, nine Web events and three App ones.
    assert "<title>10 Jun: 12 events (Web 9, App 3)</title>" in html
    assert html.count('class="bar-chart"') == 2
    top = html[html.index('id="top-activities"') :]
    assert re.search(r"Order Completed</a></td>\s*<td class=\"num\">3</td>", top)
    assert "+200%" in top
    assert 'id="new-profiles"' in html and re.search(r'class="figure">6<', html)
    assert "86% <" in html or "86%<" in html  # 6 known of 7 seen
    assert "260.00 USD" in html or "260 USD" in html


def test_dashboard_shows_an_absurd_order_apart_with_a_link_to_its_person(store, marketer):
    assert 'id="revenue-outliers"' not in marketer.get("/").content.decode()
    ada = Profile.objects.get(user_id="ada")
    Order.objects.create(
        profile=ada, order_id="TEST-1", placed_at=NOW - timedelta(hours=1), total=99_999,
        net_revenue=Decimal("99999.00"),
    )  # fmt: skip
    html = marketer.get("/").content.decode()
    card = html[html.index('id="orders"') : html.index("</section>", html.index('id="orders"'))]
    assert re.search(r"<strong>260(\.00)? USD</strong> without 1 outlier", card)
    assert "100,259.00 with it" in card
    outliers = card[card.index('id="revenue-outliers"') :]
    assert "One order is more than 10 times the median order (35.00 USD)" in outliers
    assert f'<a href="/profiles/{ada.pk}/">Order TEST-1</a>: 99,999.00 USD' in outliers


def test_dashboard_csv_has_every_figure(store, marketer):
    rows = rows_of(marketer.get("/dashboard.csv"))
    assert rows[0] == ["figure", "period", "source", "activity", "value"]
    assert ["events per hour", "2026-06-10 08:00", "Web", "", "3"] in rows
    assert ["events per day", "2026-06-10", "App", "", "3"] in rows
    assert ["orders, last 30 days", "", "", "", "6"] in rows
    assert ["net revenue, last 30 days", "", "", "", "260.00"] in rows
    assert ["known people seen, last 30 days", "", "", "", "6"] in rows


def test_event_derived_names_are_escaped_everywhere(db, clock, client, marketer):
    source = services.source_create(actor=Actor.system("test"), name="<b>Evil</b> source")
    send(client, source, [track({"userId": "x"}, "<script>alert(1)</script>", "2026-06-10 12:15")])
    process_stored()
    clock.move_to(NOW)
    html = marketer.get("/").content.decode()
    assert "<script>alert(1)</script>" not in html and "<b>Evil</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;Evil&lt;/b&gt; source" in html
    # Counted live before the rollup folds it in, and after.
    assert "12:00: 1 events (&lt;b&gt;Evil&lt;/b&gt; source 1)" in html
    formula = track({"userId": "x"}, "=HYPERLINK(1)", "2026-06-10 12:20")
    send(client, source, [{**formula, "messageId": "formula"}])
    event_hours_refresh()
    rows = rows_of(marketer.get("/dashboard.csv"))
    assert any(row[3] == "'=HYPERLINK(1)" for row in rows)


def step_people(html: str) -> list[str]:
    return re.findall(r'<td class="num people">([\d,]+)</td>', html)


def test_funnel_page_full_and_as_fragment(store, marketer):
    page = marketer.get("/analytics/funnel/", {"days": "7"})
    html = page.content.decode()
    assert "<h1>Analytics</h1>" in html and 'id="funnel-results"' in html
    assert step_people(html) == ["4", "2", "2", "2"]
    assert "<title>Added to cart: 2 people (50% of the first step, 50% of the one before)" in html
    assert "50.0%" in html  # conversion and drop-off of step two
    fragment = marketer.get(
        "/analytics/funnel/",
        {"days": "7", "source": store["app"].pk},
        headers={"HX-Request": "true", "HX-Target": "funnel-results"},
    ).content.decode()
    assert "<h1>" not in fragment and fragment.lstrip().startswith('<div id="funnel-results"')
    assert step_people(fragment) == ["2", "1", "0", "0"]
    assert "events from App" in fragment


def test_funnel_period_from_dates_and_bad_input(store, marketer):
    html = marketer.get(
        "/analytics/funnel/", {"start": "2026-06-10", "end": "2026-06-10"}
    ).content.decode()
    assert step_people(html) == ["3", "1", "1", "1"]
    bad = marketer.get("/analytics/funnel/", {"days": "9999", "source": "abc"})
    assert bad.status_code == 200
    assert "The last 30 days are shown" in bad.content.decode()
    assert step_people(bad.content.decode()) == ["4", "2", "2", "2"]


def test_funnel_csv_follows_the_chosen_filters(store, marketer):
    rows = rows_of(marketer.get("/analytics/funnel.csv", {"days": "7", "source": store["web"].pk}))
    assert rows[0][:3] == ["step", "activities", "people"]
    assert [row[2] for row in rows[1:]] == ["2", "1", "1", "1"]
    assert rows[2] == ["Added to cart", "Product Added", "1", "0.5000", "1", "0.5000", ""]


def test_retention_page_and_csv(store, marketer):
    html = marketer.get("/analytics/retention/", {"weeks": "8"}).content.decode()
    first = html[html.index('data-week="2026-05-18"') :]
    first = first[: first.index("</tr>")]
    assert "1 of 2 ordered again in week 1" in first and ">50%<" in first
    # The grid starts with the first week anyone ordered (20 April to 11 May had no one) and
    # says so; the CSV keeps every week.
    body = html[html.index("<tbody>") :]
    assert body.index('data-week="2026-05-18"') < body.index("<tr", body.index("<tr") + 1)
    assert 'data-week="2026-05-11"' not in html and 'data-week="2026-04-20"' not in html
    assert "4 earlier weeks of the period had no new customer" in html
    rows = rows_of(marketer.get("/analytics/retention.csv", {"weeks": "8"}))
    assert rows[0][:3] == ["cohort week", "new customers", "week 1"] and len(rows) == 9
    cohort = next(row for row in rows if row[0] == "2026-05-18")
    assert cohort == ["2026-05-18", "2", "0.5000", "0.0000", "0.5000"]


def test_rfm_cells_link_to_their_profiles(store, marketer):
    html = marketer.get("/analytics/rfm/").content.decode()
    assert 'href="/profiles/?rfm_r=5&amp;rfm_f=4"' in html
    cell = html[html.index('data-cell="54"') :]
    assert re.search(r">1</a>", cell[:400])
    low = marketer.get("/analytics/rfm/", {"m": "1"}).content.decode()
    assert 'href="/profiles/?rfm_r=4&amp;rfm_f=1&amp;rfm_m=1"' in low
    rows = rows_of(marketer.get("/analytics/rfm.csv"))
    assert ["5", "4", "5", "1", "140.00"] in rows and len(rows) == 5


def test_profile_list_filters_by_rfm_scores_full_page_and_fragment(store, marketer):
    html = marketer.get("/profiles/", {"rfm_r": "5", "rfm_f": "4"}).content.decode()
    rows = re.findall(r'<tr id="profile-\d+">', html)
    assert len(rows) == 1 and "recency 5, frequency 4" in html
    assert 'name="rfm_r" value="5"' in html  # kept by the search form
    fragment = marketer.get(
        "/profiles/",
        {"rfm_r": "4", "rfm_f": "1", "rfm_m": "1"},
        headers={"HX-Request": "true", "HX-Target": "profile-rows"},
    ).content.decode()
    assert "<h1>" not in fragment and len(re.findall(r'<tr id="profile-\d+">', fragment)) == 1
    assert "Bob" in fragment
    nobody = marketer.get("/profiles/", {"rfm_r": "3", "rfm_f": "3"}).content.decode()
    assert "No customer has these RFM scores" in nobody
    ignored = marketer.get("/profiles/", {"rfm_r": "9"}).content.decode()
    assert len(re.findall(r'<tr id="profile-\d+">', ignored)) == 7
