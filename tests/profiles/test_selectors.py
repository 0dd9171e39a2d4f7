"""Reads behind the profile pages: search, keyset paging, the timeline and its filters, day
grouping, the identity graph, and that the indexes serve them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from ingestion import selectors as ingestion_selectors
from profiles import graph, selectors
from profiles.models import Identity, Profile, ProfileNote

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


def search(text: str) -> set[int]:
    return {p.pk for p in selectors.profile_search(search=text)}


@pytest.fixture
def people(ingest) -> dict[str, Profile]:
    ingest(
        "batch",
        {
            "batch": [
                {
                    "type": "identify",
                    "userId": "user-ada",
                    "anonymousId": "5f0c-anon-ada",
                    "traits": {"email": "ada@example.com"},
                },
                {"type": "identify", "userId": "user_bob", "traits": {"email": "bob@shop.io"}},
                {"type": "identify", "userId": "userXbob", "traits": {"email": "b%b@shop.io"}},
                {"type": "page", "anonymousId": "visitor-1"},
            ]
        },
    )
    Profile.objects.filter(user_id="user-ada").update(name="Ada Lovelace")
    Profile.objects.filter(user_id="user_bob").update(name="Bob O'Neil")
    return {
        "ada": Profile.objects.get(user_id="user-ada"),
        "bob": Profile.objects.get(user_id="user_bob"),
        "bob2": Profile.objects.get(user_id="userXbob"),
        "visitor": Profile.objects.get(user_id=""),
    }


def test_search_by_each_kind_of_id_name_and_number(people):
    ada, bob, visitor = people["ada"].pk, people["bob"].pk, people["visitor"].pk
    assert search("ada@example.com") == {ada}  # exact email
    assert search("ADA@EX") == {ada}  # email prefix, any case
    assert search("user-ada") == {ada}  # user id
    assert search("5f0c-anon-ada") == {ada}  # anonymous id
    assert search("5f0c") == {ada}  # the start of an anonymous id
    assert search("visitor-1") == {visitor}
    assert search("ada lov") == {ada}  # the start of a name, any case
    assert search("bob o'") == {bob}
    assert search("lovelace") == {ada}  # the start of any word of the name
    assert search("Neil") == {bob}
    assert search("lovelace ada") == {ada}  # in any order
    assert search("ada:* | bob") == set()  # query syntax is not passed on: all words must match
    assert search(f"#{visitor}") == {visitor}  # "Anonymous #12"
    assert search("nobody") == set()


def test_search_escapes_like_wildcards(people):
    bob, bob2 = people["bob"].pk, people["bob2"].pk
    # `_` and `%` are matched as themselves, never as "any character" / "anything".
    assert search("user_") == {bob}
    assert search("b%b@") == {bob2}
    assert search("%") == set()
    assert search("_") == set()
    assert search("\\") == set()


def test_a_one_letter_search_matches_ids_exactly_not_as_a_prefix(people, ingest):
    ingest("page", {"anonymousId": "a"})
    only = Identity.objects.get(value="a").profile_id
    assert search("a") == {only}


def test_list_is_most_recently_seen_first_and_pages_by_keyset(people):
    ada, bob, bob2, visitor = (people[k] for k in ("ada", "bob", "bob2", "visitor"))
    Profile.objects.filter(pk=ada.pk).update(last_seen=START)
    Profile.objects.filter(pk__in=[bob.pk, bob2.pk]).update(last_seen=START + timedelta(hours=1))
    Profile.objects.filter(pk=visitor.pk).update(last_seen=None)
    expected = [max(bob.pk, bob2.pk), min(bob.pk, bob2.pk), ada.pk, visitor.pk]
    assert [p.pk for p in selectors.profile_search()] == expected
    shown, after = [], None
    while True:
        page = selectors.profile_search(after=after, limit=1)
        if not page:
            break
        shown += [p.pk for p in page]
        after = selectors.ProfileCursor.parse(
            selectors.ProfileCursor(page[-1].last_seen, page[-1].pk).token()
        )
    assert shown == expected


def test_cursor_tokens_round_trip_and_refuse_garbage():
    cursor = selectors.ProfileCursor(START + timedelta(microseconds=7), 42)
    assert selectors.ProfileCursor.parse(cursor.token()) == cursor
    assert selectors.ProfileCursor.parse(".5") == selectors.ProfileCursor(None, 5)
    for bad in ("", "x", "1.2.3", "9" * 40 + ".1", "1;drop"):
        assert selectors.ProfileCursor.parse(bad) is None
    timeline = selectors.TimelineCursor(START, 9)
    assert selectors.TimelineCursor.parse(timeline.token()) == timeline
    assert selectors.TimelineCursor.parse("99999999999999999999.1") is None


def _forbid_whole_reads(cursor) -> None:
    # Tiny test tables are cheapest read whole and sorted; forbidding that (for this test's
    # transaction only) shows whether an index can serve the query and its order, as it
    # does on a large table.
    for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
        cursor.execute(f"SET LOCAL {setting} = off")


def _plan(queryset, *, bitmaps: bool = False) -> str:
    with connection.cursor() as cursor:
        _forbid_whole_reads(cursor)
        if bitmaps:  # a GIN index is read through a bitmap
            cursor.execute("SET LOCAL enable_bitmapscan = on")
        return queryset.explain()


def _plan_of_search(**arguments) -> str:
    """The plan of the first query `profile_search` runs, as the page would run it."""
    with CaptureQueriesContext(connection) as queries:
        selectors.profile_search(**arguments)
    with connection.cursor() as cursor:
        _forbid_whole_reads(cursor)
        cursor.execute("EXPLAIN " + queries.captured_queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return plan


def test_search_is_served_by_the_indexes(people):
    plan = _plan(Profile.objects.filter(pk__in=selectors._search_ids("Ada Lov")), bitmaps=True)
    for index in ("identity_value", "profile_email", "profile_name_words"):
        assert index in plan, plan
    assert "Seq Scan" not in plan, plan


def test_list_is_served_by_the_last_seen_index(people):
    after = selectors.ProfileCursor(START, 10**9)
    plan = _plan_of_search(after=None)
    assert "profile_last_seen" in plan and "Sort" not in plan, plan
    plan = _plan_of_search(after=after)
    assert "profile_last_seen" in plan and "Sort" not in plan, plan
    assert "(last_seen <= '2026-03-02 09:00:00+00'" in plan.split("Filter")[0], plan


# --- the timeline ---------------------------------------------------------------------------


@pytest.fixture
def long_timeline(ingest) -> Profile:
    # Events share timestamps three at a time, so paging must break ties by id.
    ingest(
        "batch",
        {
            "batch": [
                {
                    "type": "track" if n % 4 else "page",
                    "event": "Product Viewed" if n % 2 else "Product Added",
                    "userId": "u-long",
                    "timestamp": at(n // 3),
                }
                for n in range(157)
            ]
        },
    )
    return Profile.objects.get()


def _all_pages(profile: Profile, **filters) -> list[int]:
    ids, before = [], None
    while True:
        page = ingestion_selectors.profile_events(
            profile_id=profile.pk, before=before, limit=20, **filters
        )
        if not page:
            return ids
        ids += [event.pk for event in page]
        before = (page[-1].timestamp, page[-1].pk)


def test_keyset_paging_returns_every_event_exactly_once_in_order(long_timeline):
    expected = list(long_timeline.events.order_by("-timestamp", "-pk").values_list("pk", flat=True))
    assert _all_pages(long_timeline) == expected


def test_timeline_filters_by_activity_and_source(long_timeline, ingest):
    events = long_timeline.events.order_by("-timestamp", "-pk")
    viewed = [e.pk for e in events if e.type == "track" and e.name == "Product Viewed"]
    pages = [e.pk for e in events if e.type == "page"]
    assert _all_pages(long_timeline, activity="track:Product Viewed") == viewed
    assert _all_pages(long_timeline, activity="page") == pages
    assert _all_pages(long_timeline, activity="identify") == []
    assert _all_pages(long_timeline, activity="nonsense") == []
    source_id = events[0].source_id
    assert len(_all_pages(long_timeline, source_id=source_id)) == 157
    assert _all_pages(long_timeline, source_id=source_id + 1) == []


def test_timeline_page_is_served_by_the_timeline_index(long_timeline):
    from ingestion.models import Event

    last = long_timeline.events.order_by("-timestamp", "-pk")[30]
    query = (
        Event.objects.filter(profile_id=long_timeline.pk, timestamp__lte=last.timestamp)
        .exclude(timestamp=last.timestamp, pk__gte=last.pk)
        .order_by("-timestamp", "-pk")[:50]
    )
    plan = _plan(query)
    assert "event_profile_timeline" in plan and "Sort" not in plan, plan
    assert "Index Cond: ((profile_id = " in plan and '"timestamp" <=' in plan, plan


def test_timeline_keeps_notes_among_events_once_each(long_timeline, django_user_model):
    for minutes in (0, 10.5, 30, 52.2, 999):
        ProfileNote.objects.create(
            profile=long_timeline, body=f"{minutes}", created_at=START + timedelta(minutes=minutes)
        )
    entries, before = [], None
    while True:
        page = selectors.profile_timeline(profile=long_timeline, before=before, limit=25)
        entries += [entry for day in page.days for entry in day.entries]
        if page.next_cursor is None:
            break
        before = page.next_cursor
    assert len(entries) == 157 + 5
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)
    assert sum(1 for e in entries if e.note) == 5


def test_filtered_timeline_leaves_notes_out(long_timeline):
    ProfileNote.objects.create(profile=long_timeline, body="hi", created_at=START)
    page = selectors.profile_timeline(profile=long_timeline, activity="page")
    assert all(entry.event for day in page.days for entry in day.entries)


# Another app's entries (PROFILE_TIMELINE_EXTRAS): the calls each page made, and what they
# returned, recorded here.
EXTRA_TIMES = [-3.0, 0.0, 10.5, 30.0, 52.0, 999.0]
extra_calls: list[tuple[int, datetime | None, datetime | None]] = []


def recording_extra(*, profile, since, until) -> list[selectors.TimelineExtra]:
    """A stand-in for another app: entries at EXTRA_TIMES within [since, until), one query."""
    extra_calls.append((profile.pk, since, until))
    Profile.objects.filter(pk=profile.pk).exists()
    entries = []
    for minutes in EXTRA_TIMES:
        when = START + timedelta(minutes=minutes)
        if (since is None or when >= since) and (until is None or when < until):
            entries.append(
                selectors.TimelineExtra(
                    at=when, anchor=f"extra-{minutes}", badge="Sent", tone="ok", title="x"
                )
            )
    return entries


EXTRAS = override_settings(
    PROFILE_TIMELINE_EXTRAS=["tests.profiles.test_selectors.recording_extra"]
)


@EXTRAS
def test_timeline_merges_other_apps_entries_by_time_once_each(long_timeline):
    extra_calls.clear()
    entries, before, pages = [], None, 0
    while True:
        with CaptureQueriesContext(connection) as queries:
            page = selectors.profile_timeline(profile=long_timeline, before=before, limit=25)
        # events, notes, recorded consent, and one per extra
        assert len(queries) == 4
        pages += 1
        entries += [entry for day in page.days for entry in day.entries]
        if page.next_cursor is None:
            break
        before = page.next_cursor
    assert len(extra_calls) == pages
    # The first page reaches up to now, the last down to the start; each page asks from its
    # oldest event up to where the previous one ended.
    assert extra_calls[0][2] is None and extra_calls[-1][1] is None
    for previous, current in itertools.pairwise(extra_calls):
        assert current[2] == previous[1]
    assert [e.extra.anchor for e in entries if e.extra] == [
        f"extra-{minutes}" for minutes in sorted(EXTRA_TIMES, reverse=True)
    ]
    assert sum(1 for e in entries if e.event) == 157
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)
    # At the same instant another app's entry sits above the event.
    at_zero = [e for e in entries if e.at == START]
    assert at_zero[0].extra is not None


@EXTRAS
def test_filtered_timeline_leaves_other_apps_entries_out(long_timeline):
    extra_calls.clear()
    for filters in ({"activity": "page"}, {"source_id": long_timeline.events.first().source_id}):
        page = selectors.profile_timeline(profile=long_timeline, **filters)
        assert all(entry.event for day in page.days for entry in day.entries)
    assert extra_calls == []


@override_settings(TIME_ZONE="Asia/Tokyo")
def test_timeline_groups_by_day_in_the_site_time_zone(ingest):
    # 16:00 UTC is 01:00 the next day in Tokyo; 14:00 UTC is 23:00 the same day.
    ingest("track", {"event": "A", "userId": "u", "timestamp": "2026-03-02T14:00:00Z"})
    ingest("track", {"event": "B", "userId": "u", "timestamp": "2026-03-02T16:00:00Z"})
    ingest("track", {"event": "C", "userId": "u", "timestamp": "2026-03-03T14:59:00Z"})
    profile = Profile.objects.get()
    page = selectors.profile_timeline(profile=profile)
    days = [(str(day.day), [e.event.name for e in day.entries]) for day in page.days]
    assert days == [("2026-03-03", ["C", "B"]), ("2026-03-02", ["A"])]
    # A page that starts within a day already shown does not head it again.
    first = selectors.profile_timeline(profile=profile, limit=1)
    rest = selectors.profile_timeline(profile=profile, before=first.next_cursor, limit=5)
    assert [d.continued for d in rest.days] == [True, False]


# --- the identity graph ---------------------------------------------------------------------


def test_graph_links_ids_by_the_events_that_carried_them(ingest):
    ingest("page", {"anonymousId": "a1", "timestamp": at(0)})
    ingest("page", {"anonymousId": "a2", "timestamp": at(1)})
    ingest("identify", {"userId": "u1", "anonymousId": "a1", "timestamp": at(2)})
    ingest("alias", {"userId": "u1", "previousId": "a2", "timestamp": at(3), "messageId": "al-1"})
    profile = Profile.objects.get(user_id="u1")
    view = selectors.profile_view(profile=profile)
    drawn = graph.identity_graph(
        profile_id=profile.pk, identities=view.identities, merges=view.merges
    )
    pairs = {frozenset((e.a.key[1], e.b.key[1])): e for e in drawn.edges}
    assert set(pairs) == {frozenset(("u1", "a1")), frozenset(("u1", "a2"))}
    assert pairs[frozenset(("u1", "a1"))].kind == "event"
    assert "identify call" in pairs[frozenset(("u1", "a1"))].title
    assert pairs[frozenset(("u1", "a2"))].kind == "merge"
    assert "al-1" in pairs[frozenset(("u1", "a2"))].title
    centre = next(n for n in drawn.nodes if n.key == ("user_id", "u1"))
    assert (centre.x, centre.y) == (drawn.width // 2, drawn.height // 2)


def test_graph_stays_bounded_with_a_hundred_anonymous_ids(ingest, django_assert_max_num_queries):
    ingest(
        "batch",
        {
            "batch": [
                {"type": "identify", "userId": "u-big", "anonymousId": f"d{n}", "timestamp": at(n)}
                for n in range(100)
            ]
        },
    )
    profile = Profile.objects.get()
    identities = selectors.profile_identities(profile=profile)
    with django_assert_max_num_queries(2):
        drawn = graph.identity_graph(profile_id=profile.pk, identities=identities, merges=[])
    assert len(drawn.nodes) == graph.RING_SLOTS + 1
    assert drawn.hidden == 100 - (graph.RING_SLOTS - 1)
    for node in drawn.nodes:
        assert node.left >= 0 and node.left + node.width <= drawn.width
        assert node.top >= 0 and node.top + node.height <= drawn.height
