"""The RFM grid's named groups, its reasons for empty cells, and saving a cell or a group
as a segment whose members are the cell's customers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from cdp_project.access.models import AuditEntry
from cdp_project.analytics.rfm import GROUPS, GROUPS_BY_SLUG, SCORES, rfm_grid
from profiles.computed import profiles_rfm_refresh
from profiles.models import Profile
from segments.membership import segment_refresh
from segments.models import Segment

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture
def marketer(django_user_model, client: Client) -> Client:
    user = django_user_model.objects.create_user("marketer", "m@example.com", "pw-123456")
    client.force_login(user)
    return client


@pytest.fixture
def shoppers(db) -> list[Profile]:
    """Ten customers: seven with one order, then 2, 3 and 4 orders; one a day apart, so
    recency fills its five bands and frequency ties on one order (F 2 and F 3 stay empty)."""
    orders = [1, 1, 1, 1, 1, 1, 1, 2, 3, 4]
    profiles = [
        Profile.objects.create(
            user_id=f"user-{i}",
            name=f"Shopper {i}",
            orders_count=count,
            revenue=Decimal(10 * (i + 1)),
            last_order_at=NOW - timedelta(days=10 - i),
        )
        for i, count in enumerate(orders)
    ]
    assert profiles_rfm_refresh(now=NOW) == 10
    return profiles


def test_every_cell_is_in_exactly_one_named_group():
    for r in SCORES:
        for f in SCORES:
            holders = [group.name for group in GROUPS if group.holds(r, f)]
            assert len(holders) == 1, (r, f, holders)
    assert GROUPS_BY_SLUG["champions"].rule == "R 5, F 4-5"
    assert GROUPS_BY_SLUG["hibernating"].rule == "R 2, F 1-2 or R 1, F 2"
    assert GROUPS_BY_SLUG["lost"].rule == "R 1, F 1"


def test_groups_count_their_cells_and_empty_columns_say_why(shoppers):
    grid = rfm_grid()
    counts = {group.slug: customers for group, customers, _ in grid.groups}
    assert sum(counts.values()) == grid.customers == 10
    frequency = dict(Profile.objects.values_list("user_id", "rfm_frequency"))
    assert sorted(frequency.values()) == [1] * 7 + [4, 5, 5]
    assert set(grid.empty_frequency) == {2, 3}
    reason = grid.empty_frequency[2]
    assert "F 1 (1 order) holds 7 customers, 70% of them" in reason
    assert reason.startswith("Nobody scores F 2 or F 3:") and "scores F 4" in reason
    assert grid.empty_frequency[3] == reason and grid.empty_reasons == [("F2", reason)]
    assert grid.empty_recency == {}
    # A cell whose column is empty says the column's reason; any other empty cell, its own.
    cells = {(cell.recency, cell.frequency): cell for row in grid.rows for cell in row}
    assert cells[(5, 2)].why_empty == reason
    assert cells[(1, 5)].customers == 0 and "just not together" in cells[(1, 5)].why_empty
    assert cells[(5, 5)].customers and cells[(5, 5)].why_empty == ""


def test_the_page_names_the_groups_with_their_rules(shoppers, marketer):
    html = marketer.get("/analytics/rfm/").content.decode()
    assert "Champions" in html and "Can&#x27;t lose them" in html and "R 1-2, F 5" in html
    assert 'data-cell="55" data-group="champions"' in html
    assert "Why some cells are empty" in html and 'data-empty="F2"' in html
    assert html.count('name="group"') == len(GROUPS)
    assert html.count('action="/analytics/rfm/segment/"') == 25 + len(GROUPS)


def members(segment: Segment) -> set[str]:
    segment_refresh(segment)
    return set(segment.memberships.values_list("profile__user_id", flat=True))


def test_a_cell_saved_as_a_segment_holds_the_cells_customers(shoppers, marketer):
    grid = rfm_grid()
    cell = next(c for row in grid.rows for c in row if (c.recency, c.frequency) == (5, 5))
    response = marketer.post("/analytics/rfm/segment/", {"r": "5", "f": "5"})
    segment = Segment.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/segments/{segment.pk}/"
    assert segment.name == "RFM cell R 5, F 5"
    expected = set(
        Profile.objects.filter(rfm_recency=5, rfm_frequency=5).values_list("user_id", flat=True)
    )
    assert len(members(segment)) == cell.customers == len(expected) > 0
    assert members(segment) == expected
    entry = AuditEntry.objects.get(action="segment.create")
    assert entry.actor.username == entry.actor_name == "marketer"


def test_a_group_saved_as_a_segment_holds_the_groups_customers(shoppers, marketer):
    for slug in ("hibernating", "lost", "champions"):
        marketer.post("/analytics/rfm/segment/", {"group": slug})
        segment = Segment.objects.latest("pk")
        group = GROUPS_BY_SLUG[slug]
        count = dict((g.slug, c) for g, c, _ in rfm_grid().groups)[slug]
        expected = {
            p.user_id
            for p in Profile.objects.exclude(rfm_score="")
            if group.holds(p.rfm_recency, p.rfm_frequency)
        }
        assert segment.name == f"RFM: {group.name}" and group.rule in segment.description
        assert members(segment) == expected and len(expected) == count


def test_a_cell_with_a_monetary_score_keeps_it(shoppers, marketer):
    marketer.post("/analytics/rfm/segment/", {"r": "5", "f": "5", "m": "5"})
    segment = Segment.objects.get()
    expected = set(
        Profile.objects.filter(rfm_recency=5, rfm_frequency=5, rfm_monetary=5).values_list(
            "user_id", flat=True
        )
    )
    assert segment.name == "RFM cell R 5, F 5, M 5" and members(segment) == expected


@pytest.mark.parametrize(
    "data", [{"r": "6", "f": "1"}, {"r": "x", "f": "1"}, {"group": "nobody"}, {}]
)
def test_a_bad_cell_or_group_saves_nothing(shoppers, marketer, data):
    assert marketer.post("/analytics/rfm/segment/", data).status_code == 404
    assert not Segment.objects.exists()


def test_saving_needs_a_login_and_a_post(shoppers, marketer):
    assert marketer.get("/analytics/rfm/segment/").status_code == 405
    response = Client().post("/analytics/rfm/segment/", {"r": "5", "f": "5"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Segment.objects.exists()
