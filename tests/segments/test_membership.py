"""Materialised membership: refreshes record who entered and left and the size over time,
keep the membership when a definition breaks, never record anything twice, and the Celery
tasks that run them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction

from profiles.models import Identity, Profile
from segments import membership, tasks
from segments.membership import RefreshResult, segment_refresh
from segments.models import Membership, MembershipChange, Segment, SizeSnapshot
from tests.conftest import process_stored

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)


def group(*conditions: dict, match: str = "all") -> dict:
    return {"kind": "group", "match": match, "negate": False, "conditions": list(conditions)}


def computed(path: str, operator: str, value=None) -> dict:
    node = {"kind": "attribute", "negate": False, "scope": "computed", "path": path}
    node["operator"] = operator
    if value is not None:
        node["value"] = value
    return node


def trait(path: str, operator: str, value) -> dict:
    return {
        "kind": "attribute",
        "negate": False,
        "scope": "trait",
        "path": path,
        "operator": operator,
        "value": value,
    }


def did(event: str, *, days: int = 7, negate: bool = False) -> dict:
    return {
        "kind": "behaviour",
        "negate": negate,
        "activity": {"kind": "track", "name": event},
        "count": {"operator": "at_least", "value": 1},
        "window": {"type": "last", "amount": days, "unit": "days"},
        "where": [],
        "sources": [],
    }


REPEAT_BUYERS = group(computed("orders_count", "gte", 2))


def person(name: str, **fields) -> Profile:
    return Profile.objects.create(user_id=name, email=f"{name}@example.com", name=name, **fields)


def segment_of(definition: dict, name: str = "Repeat buyers") -> Segment:
    return Segment.objects.create(name=name, definition=definition)


def members(segment: Segment) -> set[str]:
    return set(
        Membership.objects.filter(segment=segment).values_list("profile__user_id", flat=True)
    )


def changes(segment: Segment, kind: str) -> list[str]:
    return sorted(
        MembershipChange.objects.filter(segment=segment, kind=kind).values_list(
            "profile__user_id", flat=True
        )
    )


def send(ingest, *messages: dict) -> None:
    response = ingest("batch", {"batch": list(messages)})
    assert response.status_code == 200, response.content
    assert response.json().get("refused", []) == [], response.json()
    process_stored()


def at(days: float = 0) -> str:
    return (NOW - timedelta(days=days)).isoformat()


# --- refresh ---------------------------------------------------------------------------------


def test_refreshes_record_entries_exits_and_sizes_as_people_come_and_go():
    ada = person("ada", orders_count=3)
    bob = person("bob", orders_count=2)
    person("cyd", orders_count=1)
    segment = segment_of(REPEAT_BUYERS)

    with time_machine.travel(NOW, tick=False):
        first = segment_refresh(segment)
    assert (first.size, first.entered, first.exited, first.error) == (2, 2, 0, "")
    assert members(segment) == {"ada", "bob"}
    assert changes(segment, "entered") == ["ada", "bob"]
    assert set(Membership.objects.values_list("entered_at", flat=True)) == {NOW}

    # Bob's orders were refunded and cancelled; Cyd ordered again.
    Profile.objects.filter(pk=bob.pk).update(orders_count=0)
    Profile.objects.filter(user_id="cyd").update(orders_count=2)
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        second = segment_refresh(segment)
    assert (second.size, second.entered, second.exited) == (2, 1, 1)
    assert members(segment) == {"ada", "cyd"}
    assert changes(segment, "entered") == ["ada", "bob", "cyd"]
    assert changes(segment, "exited") == ["bob"]
    # Ada stays a member since the first refresh.
    assert Membership.objects.get(profile=ada).entered_at == NOW

    # Bob comes back: a new entry, a new "since".
    Profile.objects.filter(pk=bob.pk).update(orders_count=5)
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        third = segment_refresh(segment)
    assert (third.size, third.entered, third.exited) == (3, 1, 0)
    assert Membership.objects.get(profile=bob).entered_at == NOW + timedelta(hours=2)

    snapshots = list(SizeSnapshot.objects.filter(segment=segment).order_by("at"))
    assert [(s.size, s.entered, s.exited) for s in snapshots] == [(2, 2, 0), (2, 1, 1), (3, 1, 0)]
    assert [s.at for s in snapshots] == [NOW + timedelta(hours=h) for h in range(3)]
    segment.refresh_from_db()
    assert segment.size == 3
    assert segment.refreshed_at == NOW + timedelta(hours=2)
    assert segment.refresh_ms is not None and segment.refresh_ms >= 0
    assert segment.refresh_error == ""


def test_people_enter_and_leave_as_their_events_age_and_traits_change(ingest):
    send(
        ingest,
        {"type": "identify", "userId": "ada", "traits": {"city": "Lyon"}, "timestamp": at(5)},
        {"type": "identify", "userId": "bob", "traits": {"city": "Lyon"}, "timestamp": at(5)},
        {"type": "track", "userId": "ada", "event": "Product Added", "timestamp": at(6)},
        {"type": "track", "userId": "bob", "event": "Product Added", "timestamp": at(2)},
    )
    segment = segment_of(group(did("Product Added"), trait("city", "equals", "lyon")))

    assert segment_refresh(segment).entered == 2
    assert members(segment) == {"ada", "bob"}

    # Two days on, Ada's cart is more than 7 days old; Bob moved to Paris.
    send(
        ingest,
        {"type": "identify", "userId": "bob", "traits": {"city": "Paris"}, "timestamp": at(0)},
    )
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        result = segment_refresh(segment)
    assert (result.size, result.entered, result.exited) == (0, 0, 2)
    assert changes(segment, "exited") == ["ada", "bob"]

    # Ada adds to cart again.
    send(ingest, {"type": "track", "userId": "ada", "event": "Product Added", "timestamp": at(0)})
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        result = segment_refresh(segment)
    assert (result.size, result.entered, result.exited) == (1, 1, 0)
    assert members(segment) == {"ada"}


def test_a_check_of_some_people_enters_and_exits_only_them():
    ada, bob = person("ada", orders_count=3), person("bob", orders_count=3)
    cid = person("cid", orders_count=0)
    segment = segment_of(REPEAT_BUYERS)
    Membership.objects.create(segment=segment, profile=cid)

    result = membership.segment_membership_check(segment.pk, [ada.pk, cid.pk])

    assert (result.entered, result.exited) == (1, 1)
    # Bob matches too, but was not checked: the scheduled refresh finds him.
    assert members(segment) == {"ada"}
    assert changes(segment, "entered") == ["ada"] and changes(segment, "exited") == ["cid"]
    again = membership.segment_membership_check(segment.pk, [ada.pk, bob.pk, cid.pk])
    assert (again.entered, again.exited) == (1, 0)
    assert segment_refresh(segment).entered == 0
    assert membership.segment_membership_check(segment.pk + 1000, [ada.pk]) is None


def test_a_second_refresh_with_no_change_records_nothing():
    person("ada", orders_count=3)
    segment = segment_of(REPEAT_BUYERS)
    segment_refresh(segment)
    before = (MembershipChange.objects.count(), SizeSnapshot.objects.count())

    again = segment_refresh(segment)

    assert (again.size, again.entered, again.exited) == (1, 0, 0)
    assert (MembershipChange.objects.count(), SizeSnapshot.objects.count()) == before
    segment.refresh_from_db()
    assert segment.size == 1 and segment.refreshed_at is not None


def test_an_empty_segment_records_its_size_once():
    segment = segment_of(REPEAT_BUYERS)
    assert segment_refresh(segment).size == 0
    assert segment_refresh(segment).size == 0
    assert list(SizeSnapshot.objects.values_list("size", flat=True)) == [0]
    segment.refresh_from_db()
    assert segment.size == 0 and segment.refreshed_at is not None


def test_a_definition_that_no_longer_checks_records_the_error_and_keeps_membership():
    person("ada", orders_count=3)
    segment = segment_of(REPEAT_BUYERS)
    segment_refresh(segment)
    refreshed_at = Segment.objects.get(pk=segment.pk).refreshed_at
    # A trait the catalog does not know (saved before it was renamed, say).
    Segment.objects.filter(pk=segment.pk).update(
        definition=group(trait("loyalty.tier", "equals", "gold"))
    )

    result = segment_refresh(segment)

    assert "loyalty.tier" in result.error
    assert result.size == 1 and (result.entered, result.exited) == (0, 0)
    segment.refresh_from_db()
    assert "not valid any more" in segment.refresh_error
    assert segment.size == 1 and segment.refreshed_at == refreshed_at
    assert members(segment) == {"ada"}
    assert MembershipChange.objects.count() == 1 and SizeSnapshot.objects.count() == 1


def test_a_query_that_fails_in_the_database_is_rolled_back_and_recorded(monkeypatch):
    person("ada", orders_count=3)
    segment = segment_of(REPEAT_BUYERS)
    segment_refresh(segment)

    Profile.objects.update(orders_count=0)  # everyone would leave…
    # …but the query fails halfway (here: on every row).
    monkeypatch.setattr(
        "segments.membership.segment_sql",
        lambda tree, now=None: ("SELECT id / (id - id) FROM profiles_profile", []),
    )
    result = segment_refresh(segment)

    assert "division by zero" in result.error
    segment.refresh_from_db()
    assert "division by zero" in segment.refresh_error
    assert members(segment) == {"ada"}
    assert MembershipChange.objects.filter(kind="exited").count() == 0
    # The transaction is usable after the failure, and a fixed definition clears the error.
    monkeypatch.undo()
    assert segment_refresh(segment).exited == 1
    segment.refresh_from_db()
    assert segment.refresh_error == "" and segment.size == 0


def test_a_definition_that_takes_too_long_is_stopped(monkeypatch, settings):
    person("ada", orders_count=2)
    segment = segment_of(REPEAT_BUYERS)
    settings.SEGMENTS_REFRESH_TIMEOUT_SECONDS = 0.2
    # The sleep is in the select list, so it runs for every profile whatever plan is chosen.
    monkeypatch.setattr(
        "segments.membership.segment_sql",
        lambda tree, now=None: (
            "SELECT id FROM profiles_profile WHERE pg_sleep(2) IS NOT NULL",
            [],
        ),
    )
    result = segment_refresh(segment)
    assert "took longer than" in result.error
    assert members(segment) == set()


def test_values_travel_as_parameters_even_with_quotes_and_percents():
    person("ada", orders_count=1)
    Profile.objects.filter(user_id="ada").update(name="O'Brien 100% ; DROP TABLE x; --")
    segment = segment_of(group(computed("name", "contains", "'brien 100%")))
    assert segment_refresh(segment).size == 1


def test_a_definition_naming_a_deleted_segment_keeps_its_members_and_says_why():
    person("ada", orders_count=3)
    other = segment_of(REPEAT_BUYERS, name="Other")
    segment = segment_of(
        group(
            computed("orders_count", "gte", 1),
            {"kind": "segment", "negate": False, "segment": other.pk},
        )
    )
    assert segment_refresh(segment).size == 1
    other_id = other.pk
    other.delete()

    result = segment_refresh(segment)

    assert f"no segment #{other_id}" in result.error
    assert members(segment) == {"ada"}


def test_a_definition_that_can_hold_no_one_empties_the_segment(monkeypatch):
    person("ada", orders_count=3)
    segment = segment_of(REPEAT_BUYERS)
    segment_refresh(segment)

    def nobody(tree, now=None):
        raise EmptyResultSet

    monkeypatch.setattr("segments.membership.segment_sql", nobody)
    result = segment_refresh(segment)
    assert (result.size, result.exited, result.error) == (0, 1, "")


def test_a_refresh_of_a_deleted_segment_does_nothing():
    segment = segment_of(REPEAT_BUYERS)
    segment_id = segment.pk
    segment.delete()
    assert segment_refresh(segment_id) is None


# --- merges ----------------------------------------------------------------------------------


def test_a_merged_profile_leaves_with_its_memberships_and_the_survivor_stays(ingest):
    send(
        ingest,
        {"type": "track", "anonymousId": "anon-1", "event": "Product Added", "timestamp": at(2)},
        {"type": "track", "userId": "ada", "event": "Product Added", "timestamp": at(1)},
    )
    segment = segment_of(group(did("Product Added")))
    assert segment_refresh(segment).size == 2

    # One event carries both ids: the two profiles are one person.
    send(
        ingest,
        {
            "type": "track",
            "userId": "ada",
            "anonymousId": "anon-1",
            "event": "Product Viewed",
            "timestamp": at(0),
        },
    )
    survivor = Identity.objects.get(namespace="user_id", value="ada").profile
    assert Profile.objects.count() == 1
    assert list(Membership.objects.values_list("profile_id", flat=True)) == [survivor.pk]

    result = segment_refresh(segment)
    assert (result.size, result.entered, result.exited, result.error) == (1, 0, 0, "")


def test_a_merge_moves_memberships_to_the_survivor_and_is_not_an_entry(ingest):
    # The anonymous visitor added to cart long ago; the known customer only viewed.
    send(
        ingest,
        {"type": "track", "anonymousId": "anon-9", "event": "Product Added", "timestamp": at(3)},
        {"type": "track", "userId": "bea", "event": "Product Viewed", "timestamp": at(2)},
    )
    added = segment_of(group(did("Product Added")), name="Added")
    viewed = segment_of(group(did("Product Viewed")), name="Viewed")
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        segment_refresh(added)
    segment_refresh(viewed)
    anonymous = Identity.objects.get(namespace="anonymous_id", value="anon-9").profile

    send(
        ingest,
        {
            "type": "identify",
            "userId": "bea",
            "anonymousId": "anon-9",
            "timestamp": at(0),
        },
    )
    survivor = Identity.objects.get(namespace="user_id", value="bea").profile
    assert not Profile.objects.filter(pk=anonymous.pk).exclude(pk=survivor.pk).exists()

    # The survivor is in both, since the anonymous profile's entry, with its history.
    assert Membership.objects.get(segment=added).profile_id == survivor.pk
    assert Membership.objects.get(segment=added).entered_at == NOW - timedelta(days=1)
    assert list(
        MembershipChange.objects.filter(segment=added).values_list("profile_id", "kind")
    ) == [(survivor.pk, "entered")]
    # So the next refresh finds nothing new: no second entry for a campaign to trigger on.
    result = segment_refresh(added)
    assert (result.size, result.entered, result.exited) == (1, 0, 0)


# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_refresh_skips_a_segment_another_refresh_holds():
    person("ada", orders_count=3)
    segment = segment_of(REPEAT_BUYERS)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # What a running refresh holds.
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [membership.REFRESH_LOCK, segment.pk]
                )
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        assert segment_refresh(segment, skip_locked=True) is None
        assert membership.segments_refresh_all() == 0
        # Editing the segment meanwhile does not wait on the refresh.
        with transaction.atomic():
            Segment.objects.select_for_update(nowait=True).filter(pk=segment.pk).get()
    finally:
        release.set()
        holder.join()
    assert Membership.objects.count() == 0
    assert membership.segments_refresh_all() == 1
    assert members(segment) == {"ada"}


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_at_once_record_each_entry_once():
    for n in range(30):
        person(f"p{n}", orders_count=2)
    segment = segment_of(REPEAT_BUYERS)
    start = threading.Barrier(2)
    results: list[RefreshResult | None] = []

    def refresh() -> None:
        try:
            start.wait(10)
            results.append(segment_refresh(segment.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.entered for r in results) == [0, 30]
    assert Membership.objects.count() == 30
    assert MembershipChange.objects.count() == 30
    assert SizeSnapshot.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_refresh_that_fails_at_commit_because_a_profile_went_away_runs_once_more(
    monkeypatch,
):
    person("ada", orders_count=3)
    segment = segment_of(REPEAT_BUYERS)
    real = membership._apply
    calls = []

    def apply_as_a_merge_races(locked, now):
        calls.append(now)
        if len(calls) == 1:
            # An exit recorded for a profile deleted meanwhile: its foreign key fails at commit.
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO segments_membershipchange (segment_id, profile_id, kind, at) "
                    "VALUES (%s, %s, 'exited', now())",
                    [locked.pk, 10**9],
                )
        return real(locked, now)

    monkeypatch.setattr(membership, "_apply", apply_as_a_merge_races)

    result = segment_refresh(segment)

    assert len(calls) == 2
    assert (result.size, result.entered, result.error) == (1, 1, "")
    assert list(MembershipChange.objects.values_list("kind", flat=True)) == ["entered"]


# --- tasks -----------------------------------------------------------------------------------


def test_the_scheduled_task_refreshes_every_segment_even_when_one_fails(monkeypatch):
    person("ada", orders_count=3)
    good = segment_of(REPEAT_BUYERS, name="Good")
    broken = segment_of(group(trait("nope", "equals", "x")), name="Broken")
    crashing = segment_of(REPEAT_BUYERS, name="Crashing")
    last = segment_of(group(computed("orders_count", "gte", 1)), name="Last")
    real = membership.segment_refresh

    def refresh(segment_id, **kwargs):
        if segment_id == crashing.pk:
            raise ConnectionError("the database went away")
        return real(segment_id, **kwargs)

    monkeypatch.setattr(membership, "segment_refresh", refresh)

    assert tasks.refresh_all() == 2
    assert members(good) == {"ada"} and members(last) == {"ada"}
    assert Segment.objects.get(pk=broken.pk).refresh_error
    assert Segment.objects.get(pk=crashing.pk).refreshed_at is None


def test_the_on_demand_task_refreshes_one_segment():
    person("ada", orders_count=3)
    segment = segment_of(REPEAT_BUYERS)
    other = segment_of(REPEAT_BUYERS, name="Other")

    result = tasks.refresh(segment.pk)

    assert result["size"] == 1 and result["entered"] == 1
    assert members(segment) == {"ada"} and members(other) == set()
    assert tasks.refresh(10**9) is None


def test_the_tasks_are_registered_under_their_names_and_scheduled():
    from django.conf import settings

    from cdp_project.celery import app

    assert tasks.refresh_all.name == "segments.refresh_all"
    assert tasks.refresh.name == "segments.refresh"
    entry = settings.CELERY_BEAT_SCHEDULE["segments-refresh"]
    assert entry["task"] == "segments.refresh_all"
    assert entry["schedule"] == timedelta(seconds=300)
    assert "segments.refresh_all" in app.tasks
