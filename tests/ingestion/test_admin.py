"""Django admin on large tables: counted by estimate, searched and sorted on indexes; the
rollups and counters shown read-only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cdp_project.core import admin_tools
from ingestion.models import (
    Activity,
    ActivityDay,
    CatalogCount,
    Event,
    EventHour,
    Refusal,
    RollupMark,
)
from profiles.models import Profile

pytestmark = pytest.mark.django_db


def sql_of(ctx: CaptureQueriesContext, table: str) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if f'"{table}"' in q["sql"]]


@pytest.fixture
def events(ingest):
    batch = [{"type": "track", "userId": f"u{i}", "event": "Order Completed"} for i in range(5)]
    ingest("batch", {"batch": [*batch, {"type": "page", "anonymousId": "a-1"}]})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ingestion_event")
    return Event.objects.order_by("id")


@pytest.fixture
def small_exact_limit(monkeypatch):
    # Past this many matching rows the paginator estimates; lowered so that six events
    # stand in for a large table.
    monkeypatch.setattr(admin_tools, "EXACT_COUNT_LIMIT", 2)


def test_the_unfiltered_event_list_reads_the_table_estimate_not_a_count(
    admin_client, events, small_exact_limit
):
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get("/admin/ingestion/event/")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 6
    assert any("reltuples" in q["sql"] for q in ctx.captured_queries)
    assert not [sql for sql in sql_of(ctx, "ingestion_event") if "COUNT(" in sql]


def test_a_filtered_event_list_counts_at_most_the_limit_then_asks_the_planner(
    admin_client, events, small_exact_limit
):
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get("/admin/ingestion/event/?type__exact=track")
    counts = [sql for sql in sql_of(ctx, "ingestion_event") if "COUNT(" in sql]
    assert len(counts) == 1 and "LIMIT 3" in counts[0]
    assert any(sql.startswith("EXPLAIN") for sql in sql_of(ctx, "ingestion_event"))
    # Never fewer than the rows counted.
    assert response.context["cl"].result_count >= 3


def test_a_filtered_list_under_the_limit_is_counted_exactly(admin_client, events):
    response = admin_client.get("/admin/ingestion/event/?type__exact=page")
    assert response.context["cl"].result_count == 1


def test_event_search_is_exact_and_case_sensitive_so_it_uses_the_indexes(admin_client, events):
    with CaptureQueriesContext(connection) as ctx:
        found = admin_client.get("/admin/ingestion/event/?q=u3")
    assert [e.user_id for e in found.context["cl"].result_list] == ["u3"]
    assert not any("UPPER(" in sql for sql in sql_of(ctx, "ingestion_event"))
    assert admin_client.get("/admin/ingestion/event/?q=U3").context["cl"].result_count == 0
    by_name = admin_client.get("/admin/ingestion/event/?q=Order+Completed")
    assert by_name.context["cl"].result_count == 5


def test_sorting_by_an_unindexed_column_in_the_address_is_ignored(admin_client, events):
    timestamp_column = 7  # list_display after the action checkbox
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(f"/admin/ingestion/event/?o={timestamp_column}")
    assert response.status_code == 200
    listing = [sql for sql in sql_of(ctx, "ingestion_event") if "ORDER BY" in sql]
    assert listing and all('"ingestion_event"."timestamp" ' not in sql for sql in listing)
    ids = [e.pk for e in response.context["cl"].result_list]
    assert ids == sorted(ids, reverse=True)
    # By id, which the primary key serves, it still sorts.
    ascending = admin_client.get("/admin/ingestion/event/?o=1")
    ids = [e.pk for e in ascending.context["cl"].result_list]
    assert ids == sorted(ids)


def test_the_refusal_code_filter_lists_recent_codes_without_a_distinct_scan(admin_client, source):
    code = "activity_blocked"
    Refusal.objects.create(source=source, code=code, message="Blocked.")
    Refusal.objects.create(source=source, code="invalid_type", message="Unknown type.")
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get("/admin/ingestion/refusal/")
    assert not any("DISTINCT" in sql for sql in sql_of(ctx, "ingestion_refusal"))
    assert f"?code={code}" in response.content.decode()
    filtered = admin_client.get(f"/admin/ingestion/refusal/?code={code}")
    assert filtered.context["cl"].result_count == 1
    assert admin_client.get("/admin/ingestion/refusal/?code=other").context["cl"].result_count == 0


@pytest.fixture
def rollups(source):
    activity = Activity.objects.create(name="Order Completed")
    return {
        "eventhour": EventHour.objects.create(
            hour=timezone.now().replace(minute=0, second=0, microsecond=0),
            source=source,
            type="track",
            name="Order Completed",
            count=3,
        ),
        "rollupmark": RollupMark.objects.create(name="event_hours", last_id=42),
        "activityday": ActivityDay.objects.create(
            activity=activity, day=dt.date(2026, 12, 1), count=3
        ),
        "catalogcount": CatalogCount.objects.create(key="identify", count=7),
    }


@pytest.mark.parametrize("model", ["eventhour", "rollupmark", "activityday", "catalogcount"])
def test_rollups_and_counters_are_registered_read_only(admin_client, rollups, model):
    row = rollups[model]
    listing = admin_client.get(f"/admin/ingestion/{model}/")
    assert listing.status_code == 200
    assert [r.pk for r in listing.context["cl"].result_list] == [row.pk]
    assert admin_client.get(f"/admin/ingestion/{model}/add/").status_code == 403
    page = admin_client.get(f"/admin/ingestion/{model}/{row.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(f"/admin/ingestion/{model}/{row.pk}/change/", {}).status_code == 403
    assert admin_client.get(f"/admin/ingestion/{model}/{row.pk}/delete/").status_code == 403
    index = admin_client.get("/admin/").content.decode()
    assert f"/admin/ingestion/{model}/" in index


def test_profile_traits_are_shown_formatted_and_cannot_be_edited(admin_client):
    profile = Profile.objects.create(
        user_id="u1", traits={"plan": "pro", "note": "<b>vip</b>", "address": {"city": "Lyon"}}
    )
    page = admin_client.get(f"/admin/profiles/profile/{profile.pk}/change/").content.decode()
    assert 'name="traits"' not in page
    assert '<pre class="readonly-json">{\n  &quot;' in page
    assert "\n  &quot;plan&quot;: &quot;pro&quot;" in page
    assert "&lt;b&gt;vip&lt;/b&gt;" in page and "<b>vip</b>" not in page
    assert "  &quot;address&quot;: {\n    &quot;city&quot;: &quot;Lyon&quot;\n  }" in page
