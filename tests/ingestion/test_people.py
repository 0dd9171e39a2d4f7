"""What ingestion asks about the people behind events, answered by profiles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone

from ingestion import people
from ingestion.people import IdentityClaim, people_lock, people_resolve, people_suppressed
from profiles.models import Identity, Profile
from profiles.rights import identities_suppress, suppression_forget


def test_the_namespaces_of_ids_are_those_profiles_stores():
    assert {people.USER_ID, people.ANONYMOUS_ID, people.EMAIL} == set(Identity.Namespace.values)


@pytest.fixture
def forget_suppressions() -> Iterator[None]:
    yield
    suppression_forget()  # this process believed in a suppression the test rolled back


def test_profiles_answers_ingests_questions(db, forget_suppressions):
    claim = IdentityClaim(message_id="m1", timestamp=timezone.now(), user_id="ann")
    [profile_id] = people_resolve([claim])
    assert Profile.objects.get(pk=profile_id).user_id == "ann"
    people_lock([profile_id])  # profiles' lock, inside the test's transaction

    identities_suppress([(people.USER_ID, "bob")])
    assert people_suppressed({(people.USER_ID, "bob"), (people.USER_ID, "ann")}) == {
        (people.USER_ID, "bob")
    }


def test_without_a_registered_app_events_have_no_profile(monkeypatch):
    monkeypatch.setattr(people, "_people", people._NOBODY)
    claim = IdentityClaim(message_id="m1", timestamp=timezone.now(), user_id="ann")
    assert people_resolve([claim]) == [None]
    assert people_suppressed({(people.USER_ID, "ann")}) == set()
