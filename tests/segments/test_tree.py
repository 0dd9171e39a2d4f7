"""The typed definition: what `definition_parse` refuses (with the messages a marketer reads),
the round trip to the stored JSON, and the visitors over the tree."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from cdp_project.devtools.demo_examples import EXAMPLE_SEGMENTS
from segments.definition import DefinitionError, definition_clean, definition_parse
from segments.sentence import definition_sentence
from segments.tree import (
    ActivityName,
    ActivityRole,
    Attribute,
    Behaviour,
    BetweenWindow,
    Comparison,
    Consent,
    EventCount,
    Group,
    LastWindow,
    Lifecycle,
    PropertyFilter,
    SegmentRef,
    TreeShapeError,
    tree_from_json,
    tree_segments,
    tree_to_json,
    tree_walk,
)
from tests.segments.conftest import (
    EVER,
    Store,
    between,
    computed,
    consent,
    did,
    group,
    in_segment,
    last,
    lifecycle,
    role,
    trait,
    where,
)

pytestmark = pytest.mark.django_db


def every_kind(store: Store) -> dict[str, Any]:
    """One tree holding every kind of condition, operator family, window and selector."""
    return group(
        computed("orders_count", "between", 1, 3),
        computed("preferred_categories", "one_of", ["Shoes", "Bags"]),
        computed("last_seen", "in_last_days", 7, negate=True),
        trait("plan", "equals", "gold"),
        trait("vip", "is_true"),
        trait("signed_up_at", "before", "2026-01-01"),
        did(
            "Order Completed",
            count=("at_least", 2),
            window=last(3, "weeks"),
            filters=[where("total", "gt", 50), where("products[].category", "equals", "Shoes")],
            sources=[store.web.pk],
        ),
        did(role("product_added"), window=between("2026-01-01", "2026-01-31"), negate=True),
        lifecycle("first_time", "Order Completed", window=between("2026-02-01", "2026-02-28")),
        lifecycle("stopped", "Order Completed", window=last(30)),
        group(consent("email", "granted"), consent("sms", "unknown", negate=True), match="any"),
        in_segment(store.segments["gold"].pk, negate=True),
    )


def test_the_parser_reads_every_kind_into_its_dataclass(store):
    tree = definition_parse(every_kind(store))
    kinds = [type(node) for node in tree_walk(tree)]
    assert kinds == [
        Group,
        Attribute,
        Attribute,
        Attribute,
        Attribute,
        Attribute,
        Attribute,
        Behaviour,
        Behaviour,
        Lifecycle,
        Lifecycle,
        Group,
        Consent,
        Consent,
        SegmentRef,
    ]
    orders = tree.conditions[6]
    assert orders == Behaviour(
        activity=ActivityName("track", "Order Completed"),
        count=EventCount("at_least", 2),
        window=LastWindow(3, "weeks"),
        where=(
            PropertyFilter("total", Comparison("gt", 50)),
            PropertyFilter("products[].category", Comparison("equals", "Shoes")),
        ),
        sources=(store.web.pk,),
    )
    assert tree.conditions[7].activity == ActivityRole("product_added")
    assert tree.conditions[7].window == BetweenWindow(date(2026, 1, 1), date(2026, 1, 31))
    assert tree.conditions[1].comparison == Comparison("one_of", ("Shoes", "Bags"))
    assert tree.conditions[0].comparison == Comparison("between", 1, 3)
    assert tree_segments(tree) == {store.segments["gold"].pk}
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.negate = True  # type: ignore[misc]


def test_the_stored_json_round_trips_through_the_dataclasses(store):
    clean = definition_clean(every_kind(store))
    assert tree_to_json(tree_from_json(clean)) == clean
    assert tree_from_json(clean) == definition_parse(clean)
    assert definition_clean(clean) == clean
    # Keys keep the order they were always stored in.
    assert list(clean) == ["kind", "match", "negate", "conditions"]
    assert list(clean["conditions"][6]) == [
        "kind",
        "negate",
        "activity",
        "where",
        "sources",
        "count",
        "window",
    ]


@pytest.mark.parametrize("name, description, definition", EXAMPLE_SEGMENTS)
def test_the_demo_examples_are_stored_as_they_are_written(name, description, definition):
    assert tree_to_json(tree_from_json(definition)) == definition


def test_the_examples_of_the_segment_tests_round_trip(store):
    for tree in (
        group(did("Order Completed", window=EVER)),
        group(did("Order Completed", count=("exactly", 0), window=last(90, "minutes"))),
        group(trait("age", "gte", 40.5), trait("address.city", "is_not_set")),
        group(trait("nickname", "contains", "ada"), match="any", negate=True),
        group(lifecycle("first_time", role("order_completed"), window=last(1, "hours"))),
        group(group(group(consent("sms", "withdrawn")))),
        group(),
    ):
        clean = definition_clean(tree)
        assert tree_to_json(tree_from_json(clean)) == clean, tree


def test_reading_json_that_was_never_checked_is_refused():
    with pytest.raises(TreeShapeError):
        tree_from_json({"kind": "attribute", "scope": "trait", "path": "a", "operator": "is_set"})
    with pytest.raises(TreeShapeError):
        tree_from_json(group({"kind": "weather"}))
    with pytest.raises(TreeShapeError):
        tree_from_json(group({"kind": "behaviour", "activity": {"kind": "track"}}))
    with pytest.raises(TreeShapeError):
        tree_from_json(group(did("X", window={"type": "soon"})))


# (condition, the messages definition_parse gives for a group holding it)
REFUSED: list[tuple[Any, list[str]]] = [
    ("nope", ["Condition 1: a condition must be an object."]),
    ({"kind": "weather"}, ["Condition 1: unknown condition kind 'weather'."]),
    (
        {**consent("email", "granted"), "negate": "yes"},
        ["Condition 1: `negate` must be true or false."],
    ),
    (
        trait("nothing_here", "equals", "x"),
        ["Condition 1: there is no trait 'nothing_here' in the catalog."],
    ),
    (
        computed("orders_count", "contains", "1"),
        [
            "Condition 1: 'orders_count' is a number; its operators are equals, not_equals, gt, "
            "gte, lt, lte, between, is_set, is_not_set."
        ],
    ),
    (
        computed("orders_count", "between", 5, 2),
        ["Condition 1: 'orders_count': the second number of `between` must not be smaller."],
    ),
    (
        trait("plan", "equals", "  "),
        ["Condition 1: 'plan': enter a value (to find people with any value, use “is set”)."],
    ),
    (
        trait("signed_up_at", "before", "soon"),
        ["Condition 1: 'signed_up_at': 'soon' is not a date (YYYY-MM-DD) or date-time."],
    ),
    (
        {"kind": "attribute", "scope": "elsewhere", "path": "x"},
        ["Condition 1: choose a profile attribute."],
    ),
    (did({}), ["Condition 1: choose an activity."]),
    (did(role("teleported")), ["Condition 1: unknown commerce role 'teleported'."]),
    (did("Never Happened"), ["Condition 1: there is no activity 'Never Happened' in the catalog."]),
    (
        did("Order Completed", filters=[where("colour", "equals", "red")]),
        ["Condition 1, filter 1: the activity has no property 'colour' in the catalog."],
    ),
    (did("Order Completed", sources=[10**9]), ["Condition 1: no source with id 1000000000."]),
    (
        did("Order Completed", count=("some", 1)),
        ["Condition 1: the count is at_least, at_most or exactly a number."],
    ),
    (
        did("Order Completed", count=("at_least", -1)),
        ["Condition 1: the count: enter a number of at least 0."],
    ),
    (
        did("Order Completed", window=last(0)),
        ["Condition 1: the window: enter a number of at least 1."],
    ),
    (
        did("Order Completed", window=last(2, "years")),
        ["Condition 1: the window's unit is minutes, hours, days or weeks."],
    ),
    (
        did("Order Completed", window=last(6000, "weeks")),
        ["Condition 1: the window is longer than 100 years."],
    ),
    (
        did("Order Completed", window=between("2026-02-01", "2026-01-01")),
        ["Condition 1: the window ends before it starts."],
    ),
    (
        did("Order Completed", window=between("2026-02-01", "")),
        ["Condition 1: a window between two dates needs both dates (YYYY-MM-DD)."],
    ),
    (
        lifecycle("stopped", "Order Completed", window=EVER),
        ["Condition 1: the time window must be one of: last."],
    ),
    (
        lifecycle("sometimes", "Order Completed"),
        ["Condition 1: a lifecycle condition is `first_time` or `stopped`."],
    ),
    (in_segment(10**9), ["Condition 1: there is no segment #1000000000."]),
    ({"kind": "segment", "segment": "gold"}, ["Condition 1: choose a segment."]),
    (
        consent("pigeon", "granted"),
        ["Condition 1: consent needs a channel (email, sms) and a state."],
    ),
    (group(), ["Condition 1: an empty group; add a condition or remove it."]),
    (
        {**group(consent("email", "granted")), "match": "most"},
        ["Condition 1: a group matches `all` or `any` of its conditions."],
    ),
]


@pytest.mark.parametrize("condition, errors", REFUSED)
def test_the_parser_says_what_is_wrong(store, condition, errors):
    with pytest.raises(DefinitionError) as raised:
        definition_parse(group(condition))
    assert raised.value.errors == errors


def test_the_parser_reports_every_problem_at_once(store):
    tree = group(
        did("Never Happened"), group(consent("pigeon", "granted"), trait("plan", "is_set"))
    )
    with pytest.raises(DefinitionError) as raised:
        definition_parse(tree)
    assert raised.value.errors == [
        "Condition 1: there is no activity 'Never Happened' in the catalog.",
        "Condition 2.1: consent needs a channel (email, sms) and a state.",
    ]
    with pytest.raises(DefinitionError) as raised:
        definition_parse({"kind": "behaviour"})
    assert raised.value.errors == ["A definition is a group of conditions."]
    with pytest.raises(DefinitionError) as raised:
        definition_parse({**group(), "negate": "no"})
    assert raised.value.errors == ["`negate` must be true or false."]


def test_the_sentence_reads_every_kind(store):
    sentence = definition_sentence(definition_parse(every_kind(store)))
    assert sentence == (
        "People whose orders is between 1 and 3 and whose preferred categories is one of "
        "Shoes, Bags and whose last seen is not in the last 7 days and whose plan is gold and "
        "whose vip is true and whose signed_up_at is before 2026-01-01 and did Order Completed "
        "at least 2 times in the last 3 weeks, where total > 50, with an item of products "
        "whose category is Shoes, on Web shop and did not do any “Product added to cart” activity "
        "between 2026-01-01 and 2026-01-31 and did Order Completed for the first time between "
        "2026-02-01 and 2026-02-28 and stopped doing Order Completed (did it in the 30 days "
        "before the last 30 days, not since) and (have opted in to email or have given SMS "
        "consent either way) and are not in Gold plan"
    )


def test_the_explanation_details_every_kind(store):
    from segments.explain import explain

    explained = explain(definition_parse(every_kind(store)), store.profile("Ada"), now=store.now)
    details = [(child.met, child.detail) for child in explained.children]
    assert details[:2] == [(True, "Orders: 1"), (True, "Preferred categories: Bags, Shoes, Hats")]
    assert details[2][0] is False and details[2][1].startswith("Last seen: ")
    assert details[3:5] == [(True, "plan: Gold"), (True, "vip: True")]
    assert details[5][0] is False and details[5][1].startswith("signed_up_at: ")
    assert details[6] == (
        False,
        "0 matching events in the last 3 weeks, and none at any other time",
    )
    assert details[7][0] is True
    assert details[7][1].startswith("0 matching events between 2026-01-01 and 2026-01-31; the last")
    assert details[8][0] is False and details[8][1].endswith(", after 2026-02-28")
    assert details[9][0] is False and details[9][1].endswith(", in the last 30 days")
    assert details[10] == (True, "2 of 2 met; needs any")
    assert [(c.met, c.detail) for c in explained.children[10].children] == [
        (True, "email consent: Opted in"),
        (True, "SMS consent: Opted out"),
    ]
    assert details[11] == (False, "decided by that segment's own conditions, evaluated now")
    assert explained.met is False
    assert explained.detail == "6 of 12 met; needs all"
