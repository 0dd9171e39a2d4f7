"""The debugger's search, filters, pause and pretty/raw views, as a full page and as the
htmx poll, and the indexes its searches are served by."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from ingestion import selectors
from ingestion.models import Event, Refusal

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, django_user_model):
    client.force_login(
        django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")
    )
    return client


@pytest.fixture
def traffic(ingest):
    """Two people, four kinds of call and one refusal."""
    ingest("track", {"userId": "ada-1", "event": "Order Completed", "messageId": "m-order"})
    ingest("track", {"userId": "adam-2", "event": "Cart Viewed", "messageId": "m-cart"})
    ingest("page", {"anonymousId": "anon-77", "name": "Shoes", "messageId": "m-page"})
    ingest("identify", {"userId": "bob", "traits": {"email": "bob@example.com"}})
    ingest("track", {"anonymousId": "anon-77", "messageId": "m-refused"})  # no event name


def debugger(client, source, htmx: bool = False, **params) -> str:
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get(f"/sources/{source.pk}/debugger/", params, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def shown(body: str, model=Event) -> set[str]:
    """The message ids of the rows shown."""
    prefix = "event-" if model is Event else "refusal-"
    return {
        row.message_id
        for row in model.objects.all()
        if f'id="{prefix}{row.pk}"' in body and row.message_id
    }


def test_search_by_user_id_prefix_finds_every_user_it_starts(signed_in, source, traffic):
    body = debugger(signed_in, source, q="ada")
    assert shown(body) == {"m-order", "m-cart"}
    assert "Matching events" in body


def test_exact_search_finds_only_that_value(signed_in, source, traffic):
    body = debugger(signed_in, source, q="ada", match="exact")
    assert shown(body) == set()
    body = debugger(signed_in, source, q="ada-1", match="exact")
    assert shown(body) == {"m-order"}


def test_search_by_anonymous_id_event_name_and_message_id(signed_in, source, traffic):
    assert shown(debugger(signed_in, source, q="anon-77", match="exact")) == {"m-page"}
    assert shown(debugger(signed_in, source, q="Cart")) == {"m-cart"}
    assert shown(debugger(signed_in, source, q="m-or")) == {"m-order"}


def test_refusals_are_searched_by_message_id(signed_in, source, traffic):
    body = debugger(signed_in, source, q="m-ref")
    assert shown(body, Refusal) == {"m-refused"}
    assert "missing_event" in body
    assert "missing_event" not in debugger(signed_in, source, q="ada")


def test_type_filter_shows_that_type_and_no_refusals(signed_in, source, traffic):
    body = debugger(signed_in, source, type="page")
    assert shown(body) == {"m-page"}
    assert "missing_event" not in body
    assert "Refusals have no type" in body


def test_accepted_or_refused_filter(signed_in, source, traffic):
    accepted = debugger(signed_in, source, status="accepted")
    assert len(shown(accepted)) == 4 and 'id="refusal-rows"' not in accepted
    refused = debugger(signed_in, source, status="refused")
    assert shown(refused) == set() and shown(refused, Refusal) == {"m-refused"}


def test_unknown_filter_values_show_the_whole_debugger(signed_in, source, traffic):
    body = debugger(signed_in, source, type="nope", status="nope", view="nope", q="a\x00da")
    assert shown(body) == {"m-order", "m-cart"}  # the NUL is dropped: "ada…"
    assert 'data-view="pretty"' in body


def test_the_poll_brings_only_new_rows_that_match_and_keeps_the_filters(
    signed_in, source, traffic, ingest
):
    last = Event.objects.latest("pk").pk
    ingest("track", {"userId": "ada-3", "event": "Order Completed", "messageId": "m-new-ada"})
    ingest("track", {"userId": "carl", "event": "Order Completed", "messageId": "m-new-carl"})
    body = debugger(signed_in, source, htmx=True, q="ada", events_after=last, refusals_after=0)
    assert "<html" not in body
    assert shown(body) == {"m-new-ada"}
    newest = Event.objects.get(message_id="m-new-ada").pk
    assert f"?q=ada&amp;events_after={newest}&amp;refusals_after=0" in body


def test_the_full_page_and_the_poll_read_a_bounded_number_of_queries(
    signed_in, source, traffic, django_assert_max_num_queries
):
    # Session and user, the source, the events, the refusals, and the stack's state.
    with django_assert_max_num_queries(8):
        debugger(signed_in, source, q="ada", type="track")
    with django_assert_max_num_queries(7):
        debugger(signed_in, source, htmx=True, q="ada", events_after=0, refusals_after=0)


def test_each_row_links_to_its_person(signed_in, source, traffic):
    event = Event.objects.get(message_id="m-order")
    assert event.profile_id is not None
    body = debugger(signed_in, source, q="m-order")
    assert reverse("profile-detail", args=[event.profile_id]) in body


def test_raw_view_is_the_message_in_the_spec_order_and_pretty_keeps_stored_order(
    signed_in, source, ingest
):
    ingest(
        "track",
        {
            "userId": "u",
            "event": "Order Completed",
            "messageId": "m-1",
            "properties": {"total": 10, "order_id": "O-1", "a": 1},
        },
    )
    event = Event.objects.get()
    body = debugger(signed_in, source, view="raw")
    assert 'data-view="raw"' in body
    raw = body.split('<pre class="raw">', 1)[1].split("</pre>", 1)[0]
    message = json.loads(raw.replace("&quot;", '"'))
    assert list(message)[:5] == ["type", "event", "userId", "messageId", "timestamp"]
    assert list(message["properties"]) == list(event.properties)
    assert "\n" not in raw
    # The pretty view lists the keys in the same stored order, indented.
    pretty = body.split("<h4>properties</h4><pre>", 1)[1].split("</pre>", 1)[0]
    assert [line.split("&quot;")[1] for line in pretty.splitlines()[1:-1]] == list(event.properties)


def test_a_refusal_is_shown_indented_in_the_order_sent_and_raw_as_sent(signed_in, source, ingest):
    ingest("track", {"zeta": 1, "anonymousId": "a", "messageId": "m-z"})
    body = debugger(signed_in, source)
    excerpt = Refusal.objects.get().excerpt
    assert f'<pre class="raw">{excerpt.replace(chr(34), "&quot;")}</pre>' in body
    pretty = body.split('<pre class="pretty">', 1)[1].split("</pre>", 1)[0]
    assert pretty.index("zeta") < pretty.index("anonymousId")


def test_paused_without_javascript_is_a_page_with_a_resume_button(signed_in, source, traffic):
    body = debugger(signed_in, source, paused="1", q="ada")
    assert 'data-paused="true"' in body and ">Resume</button>" in body
    assert 'name="paused" value="0"' in body  # the button resumes
    assert 'name="q" value="ada"' in body  # and keeps the search
    live = debugger(signed_in, source)
    assert 'data-paused="false"' in live and ">Pause</button>" in live


@pytest.fixture
def busy_source(source):
    """A source with enough events and refusals, and fresh statistics, for the planner to
    choose as it would in production (on a handful of rows every plan is a scan)."""
    now = timezone.now()
    Event.objects.bulk_create(
        Event(
            source=source,
            type="track",
            name=f"Activity {i % 20}",
            user_id=f"user-{i}",
            anonymous_id=f"anon-{i}",
            message_id=f"msg-{i}",
            timestamp=now,
            received_at=now,
        )
        for i in range(3000)
    )
    Refusal.objects.bulk_create(
        Refusal(source=source, code="missing_event", message="…", message_id=f"ref-{i}")
        for i in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ingestion_event")
        cursor.execute("ANALYZE ingestion_refusal")
    return source


@pytest.mark.parametrize(
    ("text", "prefix", "kind"),
    [("user-1234", False, ""), ("anon-12", True, "track"), ("msg-2999", True, "")],
)
def test_a_search_is_served_by_one_index_per_field_never_a_scan_of_the_source(
    busy_source, text, prefix, kind
):
    search = selectors.DebuggerSearch(text=text, prefix=prefix, type=kind)
    plan = _plan(selectors.source_latest_events(source=busy_source, search=search))
    for index in ("event_user_id", "event_anonymous_id", "event_name_time", "event_message_id"):
        assert index in plan
    assert "event_source_latest" not in plan and "Seq Scan" not in plan


def test_refusal_search_is_served_by_its_index(busy_source):
    search = selectors.DebuggerSearch(text="ref-12", prefix=True)
    plan = _plan(selectors.source_latest_refusals(source=busy_source, search=search))
    assert "refusal_message_id" in plan and "Seq Scan" not in plan


def _plan(query) -> str:
    with connection.cursor() as cursor:
        sql, params = query.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())
