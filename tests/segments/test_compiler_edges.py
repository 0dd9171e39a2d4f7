"""What real data and real Postgres bring that a small store does not: parallel plans,
Unicode, time zones, and definitions that went stale as the catalog changed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from ingestion.models import ProfileAttribute
from profiles.models import Profile
from segments.definition import DefinitionError, definition_clean
from segments.models import Segment
from tests.segments.conftest import did, group, in_segment, trait, where

pytestmark = pytest.mark.django_db


def set_trait(store, name: str, key: str, value) -> None:
    profile = store.profile(name)
    Profile.objects.filter(pk=profile.pk).update(traits={**profile.traits, key: value})


def test_a_datetime_condition_runs_in_a_parallel_plan(store):
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        version = int(cursor.fetchone()[0])
        forcing = "debug_parallel_query" if version >= 160000 else "force_parallel_mode"
        for name, value in [
            (forcing, "on"),
            ("parallel_setup_cost", "0"),
            ("parallel_tuple_cost", "0"),
            ("min_parallel_table_scan_size", "0"),
        ]:
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
    # The safe cast catches errors in a subtransaction, which parallel workers may not
    # start: it must keep the query in the leader.
    assert store.members(trait("signed_up_at", "after", "2019-01-01")) == {
        "Ada",
        "Bob",
        "Cleo",
        "Eve",
    }


def test_a_number_padded_with_unicode_spaces_is_no_number_and_no_error(store):
    set_trait(store, "Ada", "age", "36\u3000")
    assert "Ada" not in store.members(trait("age", "gt", 30))
    set_trait(store, "Ada", "age", " 36 ")
    assert "Ada" in store.members(trait("age", "gt", 30))


def test_dates_without_an_offset_are_read_in_the_site_time_zone(store):
    # Cleo signed up "2020-01-15": midnight in New York, which is 05:00 UTC.
    with timezone.override("America/New_York"):
        assert "Cleo" not in store.members(trait("signed_up_at", "before", "2020-01-15"))
        assert "Cleo" in store.members(trait("signed_up_at", "after", "2020-01-14"))
        assert "Cleo" in store.members(trait("signed_up_at", "before", "2020-01-16"))


def test_one_of_lowers_letters_as_equals_does(store):
    set_trait(store, "Ada", "plan", "İstanbul")
    assert "Ada" in store.members(trait("plan", "equals", "İstanbul"))
    assert "Ada" in store.members(trait("plan", "one_of", ["İstanbul", "x"]))


def test_a_referenced_segment_that_went_stale_is_a_clear_error(store):
    codes = Segment.objects.create(
        name="Codes with A",
        definition=definition_clean(group(trait("customer_code", "contains", "A"))),
    )
    tree = definition_clean(group(in_segment(codes.pk)))
    assert store.members(tree) == {"Bob"}
    # A marketer re-pins the field as a number: "contains A" no longer fits it.
    ProfileAttribute.objects.filter(path="customer_code").update(pinned_type="number")
    with pytest.raises(DefinitionError) as raised:
        store.members(tree)
    assert "In segment 'Codes with A'" in raised.value.errors[0]


def test_blank_text_is_refused_with_a_hint(store):
    with pytest.raises(DefinitionError) as raised:
        definition_clean(group(trait("plan", "contains", "  ")))
    assert "is set" in raised.value.errors[0]


def test_a_filter_with_no_property_chosen_asks_for_one(store):
    with pytest.raises(DefinitionError) as raised:
        definition_clean(group(did("Product Added", filters=[where("", "equals", "x")])))
    assert raised.value.errors[0].endswith("filter 1: choose a property.")
