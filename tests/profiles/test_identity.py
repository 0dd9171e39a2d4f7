"""Identity stitching at ingest: one profile per person, across ids, devices and merges."""

from __future__ import annotations

import threading
import time

import pytest
from django.test import override_settings
from django.utils import timezone

from ingestion import services
from ingestion.models import Event
from profiles.models import Identity, Profile, ProfileMerge

pytestmark = pytest.mark.django_db


def ids_of(profile: Profile) -> set[tuple[str, str]]:
    return set(profile.identities.values_list("namespace", "value"))


def profile_of(**identity) -> Profile:
    ((namespace, value),) = identity.items()
    return Identity.objects.get(namespace=namespace, value=value).profile


def test_every_event_gets_a_profile_and_one_anonymous_visitor_is_one_profile(ingest):
    ingest(
        "batch",
        {
            "batch": [
                {"type": "page", "anonymousId": "a1"},
                {"type": "track", "event": "Product Viewed", "anonymousId": "a1"},
                {"type": "page", "anonymousId": "a2"},
            ]
        },
    )
    assert not Event.objects.filter(profile__isnull=True).exists()
    assert Profile.objects.count() == 2
    assert profile_of(anonymous_id="a1").events.count() == 2


def test_identify_makes_the_anonymous_profile_known_and_keeps_its_history(ingest):
    ingest("track", {"event": "Product Viewed", "anonymousId": "a1"})
    anonymous = profile_of(anonymous_id="a1")
    ingest(
        "identify",
        {"anonymousId": "a1", "userId": "u1", "traits": {"email": "Ada@Example.com "}},
    )
    ingest("track", {"event": "Order Completed", "userId": "u1"})

    profile = Profile.objects.get()
    assert profile.pk == anonymous.pk
    assert (profile.user_id, profile.email) == ("u1", "ada@example.com")
    assert ids_of(profile) == {
        ("anonymous_id", "a1"),
        ("user_id", "u1"),
        ("email", "ada@example.com"),
    }
    assert profile.events.count() == 3


def test_two_devices_merge_when_the_same_user_logs_in_on_both(ingest):
    ingest("track", {"event": "Product Viewed", "anonymousId": "phone"})
    ingest("track", {"event": "Product Viewed", "anonymousId": "laptop"})
    ingest("identify", {"anonymousId": "phone", "userId": "u1"})
    assert Profile.objects.count() == 2
    ingest("identify", {"anonymousId": "laptop", "userId": "u1", "messageId": "login-2"})

    survivor = Profile.objects.get()
    assert survivor.events.count() == 4
    assert ids_of(survivor) >= {("anonymous_id", "phone"), ("anonymous_id", "laptop")}
    merge = ProfileMerge.objects.get()
    assert merge.survivor == survivor
    assert merge.message_id == "login-2"
    assert ["anonymous_id", "laptop"] in merge.identities


def test_an_anonymous_identify_with_a_known_email_joins_that_person(ingest):
    ingest("identify", {"userId": "u1", "traits": {"email": "ada@example.com"}})
    ingest("track", {"event": "Product Viewed", "anonymousId": "a9"})
    ingest("identify", {"anonymousId": "a9", "traits": {"email": "ADA@example.com"}})
    profile = Profile.objects.get()
    assert profile.user_id == "u1"
    assert profile.events.count() == 3


def test_alias_links_the_previous_id_and_merges(ingest):
    ingest("track", {"event": "Product Viewed", "anonymousId": "old-anon"})
    ingest("track", {"event": "Signed Up", "userId": "new-user"})
    ingest("alias", {"previousId": "old-anon", "userId": "new-user"})
    profile = Profile.objects.get()
    assert profile.events.count() == 3
    assert ProfileMerge.objects.get().reason == "alias"


def test_an_alias_that_overtakes_its_identify_still_ends_in_one_profile(ingest):
    # An SDK sends identify('user-5') then alias('customer-5') as two requests; the alias
    # can be stored first.
    ingest("page", {"anonymousId": "anon-5"})
    ingest("alias", {"anonymousId": "anon-5", "userId": "customer-5", "previousId": "user-5"})
    ingest("identify", {"anonymousId": "anon-5", "userId": "user-5"})
    ingest("track", {"event": "Product Viewed", "userId": "user-5"})

    person = profile_of(user_id="user-5")
    assert person == profile_of(user_id="customer-5") == profile_of(anonymous_id="anon-5")
    assert Profile.objects.count() == 1
    assert person.events.count() == 4


def test_an_alias_from_an_anonymous_id_adds_no_user_id(ingest):
    ingest("alias", {"anonymousId": "anon-6", "userId": "customer-6", "previousId": "anon-6"})
    person = Profile.objects.get()
    assert ids_of(person) == {("user_id", "customer-6"), ("anonymous_id", "anon-6")}


def test_a_shared_device_never_merges_two_known_users(ingest):
    ingest("identify", {"anonymousId": "family-tablet", "userId": "alice"})
    ingest("identify", {"anonymousId": "family-tablet", "userId": "bob"})
    ingest("track", {"event": "Product Viewed", "anonymousId": "family-tablet"})

    alice, bob = profile_of(user_id="alice"), profile_of(user_id="bob")
    assert alice != bob
    assert not ProfileMerge.objects.exists()
    # The device stays with the first person; bob's own events are his.
    assert profile_of(anonymous_id="family-tablet") == alice
    assert bob.events.count() == 1
    assert alice.events.count() == 2


def test_a_shared_email_never_merges_two_known_users(ingest):
    ingest("identify", {"userId": "alice", "traits": {"email": "shop@family.example"}})
    ingest("identify", {"userId": "bob", "traits": {"email": "shop@family.example"}})
    assert Profile.objects.count() == 2
    assert profile_of(email="shop@family.example").user_id == "alice"


def test_one_batch_stitches_in_order(ingest):
    ingest(
        "batch",
        {
            "batch": [
                {"type": "page", "anonymousId": "a1"},
                {"type": "identify", "anonymousId": "a1", "userId": "u1"},
                {"type": "page", "anonymousId": "a2"},
                {"type": "track", "event": "Login", "anonymousId": "a2", "userId": "u1"},
            ]
        },
    )
    profile = Profile.objects.get()
    assert profile.events.count() == 4
    assert not ProfileMerge.objects.exists()  # nothing existed before the batch


def test_a_profile_collects_a_bounded_number_of_anonymous_ids(ingest, settings):
    settings.PROFILE_MAX_ANONYMOUS_IDS = 2
    for device in ["d1", "d2", "d3"]:
        ingest("track", {"event": "Login", "anonymousId": device, "userId": "u1"})
    profile = profile_of(user_id="u1")
    assert {v for n, v in ids_of(profile) if n == "anonymous_id"} == {"d1", "d2"}
    assert profile.events.count() == 3  # the user id still says whose events they are
    ingest("track", {"event": "Product Viewed", "anonymousId": "d3"})
    assert Event.objects.get(anonymous_id="d3", user_id="").profile != profile


def test_a_known_visitor_costs_one_read_and_no_lock(ingest, django_assert_max_num_queries):
    ingest("identify", {"anonymousId": "a1", "userId": "u1"})
    batch = [{"type": "track", "event": "X", "anonymousId": "a1", "userId": "u1"}] * 50
    batch = [{**event, "messageId": f"m{i}"} for i, event in enumerate(batch)]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        ingest("batch", {"batch": batch})
    sql = " ".join(q["sql"] for q in queries)
    assert "pg_advisory_xact_lock" not in sql
    assert sql.count("profiles_identity") == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_for_the_same_new_people_make_one_profile_each(source):
    import threading

    from django.db import connection
    from django.utils import timezone

    from ingestion import services
    from ingestion.messages import BatchContext

    people = [f"user-{n}" for n in range(5)]
    # Each thread is one device of every person: an anonymous view, then a login.
    devices = 8
    barrier = threading.Barrier(devices)
    errors: list[BaseException] = []

    def device(number: int) -> None:
        try:
            barrier.wait()
            for person in people:
                anonymous = f"{person}-device-{number}"
                services.events_ingest(
                    source=source,
                    batch=BatchContext(received_at=timezone.now()),
                    messages=[
                        {"type": "page", "anonymousId": anonymous},
                        {"type": "identify", "anonymousId": anonymous, "userId": person},
                        {"type": "track", "event": "Viewed", "anonymousId": anonymous},
                    ],
                )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=device, args=(n,)) for n in range(devices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Profile.objects.count() == len(people)
    assert not Event.objects.filter(profile__isnull=True).exists()
    for person in people:
        profile = profile_of(user_id=person)
        assert profile.events.count() == 3 * devices
        assert len(ids_of(profile)) == devices + 1


def _visitors(prefix: str, count: int) -> list:
    from profiles.identity import IdentityClaim

    at = timezone.now()
    return [
        IdentityClaim(message_id=f"{prefix}-{n}", timestamp=at, anonymous_id=f"{prefix}-{n}")
        for n in range(count)
    ]


def test_ids_are_locked_one_by_one_and_a_large_batch_by_bucket():
    from profiles import identity

    small = {("anonymous_id", f"a{n}") for n in range(50)}
    locks, shared = identity._lock_plan(small)
    assert locks == sorted(locks)
    # Each id's own lock, exclusive, after the coarse buckets, shared.
    assert shared.count(False) == 50 and shared == sorted(shared, reverse=True)

    large = {("anonymous_id", f"b{n}") for n in range(identity.FINE_LOCK_LIMIT + 1)}
    locks, shared = identity._lock_plan(large)
    assert not any(shared) and len(locks) <= identity.LOCK_BUCKETS


@pytest.mark.django_db(transaction=True)
def test_requests_for_different_new_people_do_not_wait_for_each_other():
    """A transaction that holds the locks of a hundred new visitors leaves another hundred
    free, and holds back any batch, small or large, that shares one of its ids."""
    from django.db import OperationalError, connection, transaction

    from profiles.identity import profiles_resolve

    held, release = threading.Event(), threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                profiles_resolve(claims=_visitors("first", 100))
                held.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert held.wait(30)

        def resolve(claims: list) -> None:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '1s'")
                profiles_resolve(claims=claims)

        resolve(_visitors("second", 100))
        with pytest.raises(OperationalError, match="lock timeout"):
            resolve(_visitors("third", 10) + _visitors("first", 1))
        with pytest.raises(OperationalError, match="lock timeout"):
            resolve(_visitors("fourth", 400) + _visitors("first", 1))
    finally:
        release.set()
        thread.join()
    assert Profile.objects.count() == 200


def test_events_stored_without_a_profile_are_given_one_in_order(ingest):
    ingest(
        "batch",
        {
            "batch": [
                {"type": "page", "anonymousId": "a1"},
                {"type": "identify", "anonymousId": "a1", "userId": "u1"},
                {"type": "page", "anonymousId": "a2", "userId": "u1"},
                {"type": "page", "anonymousId": "b1"},
            ]
        },
    )
    # As a database from before profiles existed holds them.
    Event.objects.update(profile=None)
    Profile.objects.all().delete()
    from ingestion.services import events_resolve_missing_profiles

    assert events_resolve_missing_profiles(batch_size=3) == 4
    assert events_resolve_missing_profiles() == 0
    assert Profile.objects.count() == 2
    assert profile_of(user_id="u1").events.count() == 3


def _slow_processor(events) -> None:
    time.sleep(1.0)  # holds the batch's locks while an ingest merges its profiles


@pytest.mark.django_db(transaction=True)
@override_settings(
    INGEST_EVENT_PROCESSORS=[
        "tests.profiles.test_identity._slow_processor",
        "profiles.computed.profiles_update",
    ]
)
def test_a_merge_during_processing_waits_instead_of_deadlocking(ingest, source):
    from django.db import connection

    from ingestion.messages import BatchContext

    assert ingest("track", {"event": "Viewed", "userId": "u1"}).status_code == 200
    services.events_process(event_ids=list(Event.objects.values_list("pk", flat=True)))
    assert ingest("track", {"event": "Viewed", "anonymousId": "an1"}).status_code == 200
    pending = list(Event.objects.filter(processed_at=None).values_list("pk", flat=True))
    errors: list[BaseException] = []

    def process() -> None:
        try:
            services.events_process(event_ids=pending)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    worker = threading.Thread(target=process)
    worker.start()
    time.sleep(0.4)  # the worker holds its locks now
    services.events_ingest(
        source=source,
        messages=[{"type": "track", "event": "Viewed", "userId": "u1", "anonymousId": "an1"}],
        batch=BatchContext(received_at=timezone.now()),
    )
    worker.join()
    assert errors == []
    profile = Profile.objects.get()
    assert Event.objects.filter(processed_at=None).count() == 1  # the merging event
    services.events_process(event_ids=list(Event.objects.values_list("pk", flat=True)))
    profile.refresh_from_db()
    assert profile.event_count == 3
