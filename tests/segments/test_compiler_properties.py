"""Definitions nobody wrote by hand: random valid trees always clean, compile, run and read as
a sentence, a condition and its negation always split everyone, and "why is this person in?"
agrees with the query; garbage and hostile input is refused with a DefinitionError or matched
as plain data, and never becomes SQL text."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.catalog.paths import escape_key
from ingestion.models import ActivityProperty, ProfileAttribute
from profiles.models import Profile
from segments.compiler import segment_count, segment_profiles, segment_sql
from segments.definition import (
    COMPUTED_ATTRIBUTES,
    OPERATORS,
    DefinitionError,
    definition_clean,
    definition_parse,
)
from segments.explain import explain
from segments.sentence import definition_sentence
from segments.tree import tree_from_json, tree_to_json
from tests.segments.conftest import (
    Store,
    between,
    computed,
    did,
    group,
    ingest_messages,
    last,
    lifecycle,
    negated,
    trait,
    where,
)

pytestmark = pytest.mark.django_db

# Keys and values a hostile sender might use to break out of a JSON path or a string literal.
HOSTILE_KEYS = ["a'b", 'x"); DROP TABLE profiles_profile; --', "->>", "a.b", "select", ";"]
HOSTILE_VALUE = "' OR 1=1 --"
HOSTILE_ACTIVITY = "x'); DROP TABLE ingestion_event; --"
# Long enough that finding one in SQL text means it was pasted there.
DISTINCTIVE = [key for key in HOSTILE_KEYS if len(key) > 3] + [HOSTILE_VALUE, HOSTILE_ACTIVITY]


@pytest.fixture(scope="module")
def hostile(store: Store, django_db_blocker) -> Iterator[Store]:
    """The store, with Mallory (every hostile key set to the hostile value, as traits and as
    properties of an activity with a hostile name) and Nina (the same keys, plain values)."""
    with django_db_blocker.unblock():
        messages = []
        for name, value in (("Mallory", HOSTILE_VALUE), ("Nina", "plain")):
            user = f"u-{name.lower()}"
            values = dict.fromkeys(HOSTILE_KEYS, value)
            messages.append(
                {"type": "identify", "userId": user, "traits": {"name": name, **values}}
            )
            messages.append(
                {"type": "track", "userId": user, "event": HOSTILE_ACTIVITY, "properties": values}
            )
        ingest_messages(store.web, messages, store.now)
        for name in ("Mallory", "Nina"):
            store.people[name] = Profile.objects.get(user_id=f"u-{name.lower()}").pk
    yield store
    for name in ("Mallory", "Nina"):
        store.people.pop(name, None)


# --- hostile names and values ----------------------------------------------------------------


def compiled_sql(tree: dict) -> tuple[str, list[Any]]:
    """The SQL text and parameters of a definition, both ways the app runs it."""
    clean = definition_clean(tree)
    sql, params = segment_profiles(clean).query.sql_with_params()
    refresh_sql, refresh_params = segment_sql(clean)
    return sql + "\n" + refresh_sql, [*params, *refresh_params]


def test_the_catalog_knows_the_hostile_keys(hostile):
    paths = set(ProfileAttribute.objects.values_list("path", flat=True))
    assert {escape_key(key) for key in HOSTILE_KEYS} <= paths
    properties = set(
        ActivityProperty.objects.filter(activity__name=HOSTILE_ACTIVITY).values_list(
            "path", flat=True
        )
    )
    assert {escape_key(key) for key in HOSTILE_KEYS} <= properties


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_trait_keys_and_values_are_data(hostile, key):
    path = escape_key(key)
    assert hostile.members(trait(path, "equals", HOSTILE_VALUE)) == {"Mallory"}
    assert hostile.members(trait(path, "equals", "PLAIN")) == {"Nina"}
    assert hostile.members(trait(path, "is_set")) == {"Mallory", "Nina"}
    assert hostile.members(trait(path, "contains", "1=1")) == {"Mallory"}

    sql, params = compiled_sql(group(trait(path, "equals", HOSTILE_VALUE)))
    for text in DISTINCTIVE:
        assert text not in sql
    assert HOSTILE_VALUE in repr(params)
    assert [key] in params or key in repr(params)
    # The same statement as for an ordinary trait: only the parameters differ.
    ordinary, _ = compiled_sql(group(trait("plan", "equals", HOSTILE_VALUE)))
    assert sql == ordinary


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_property_keys_and_activity_names_are_data(hostile, key):
    path = escape_key(key)
    tree = did(HOSTILE_ACTIVITY, filters=[where(path, "equals", HOSTILE_VALUE)])
    assert hostile.members(tree) == {"Mallory"}
    assert hostile.members(did(HOSTILE_ACTIVITY, filters=[where(path, "ends_with", "AIN")])) == {
        "Nina"
    }
    assert hostile.members(did(HOSTILE_ACTIVITY)) == {"Mallory", "Nina"}

    sql, params = compiled_sql(group(tree))
    for text in DISTINCTIVE:
        assert text not in sql
    assert HOSTILE_ACTIVITY in repr(params)
    ordinary, _ = compiled_sql(
        group(did("Newsletter Opened", filters=[where("campaign", "equals", "x")]))
    )
    assert sql == ordinary


def test_hostile_values_on_ordinary_fields_match_no_one(hostile):
    for value in (HOSTILE_VALUE, "%", "' OR '1'='1", "\\", "_%_", "'; SELECT pg_sleep(5); --"):
        assert hostile.members(trait("plan", "equals", value)) == set()
        assert hostile.members(trait("plan", "one_of", [value, "nothing"])) == set()
        assert hostile.members(computed("email", "starts_with", value)) == set()
        found = hostile.members(
            did("Order Completed", filters=[where("coupon", "contains", value)])
        )
        assert found == set()


def test_the_tables_are_still_there(hostile):
    for key in HOSTILE_KEYS:
        hostile.members(trait(escape_key(key), "is_not_set"))
    tables = set(connection.introspection.table_names())
    assert {"profiles_profile", "ingestion_event", "segments_segment"} <= tables
    assert Profile.objects.count() == len(hostile.people)


# --- what definition_clean refuses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "words"),
    [
        (trait("no_such_trait", "equals", "x"), ["no_such_trait", "catalog"]),
        (computed("password", "equals", "x"), ["password"]),
        (trait("plan", "gt", 3), ["plan", "string", "equals"]),
        (trait("age", "contains", "4"), ["age", "number"]),
        (trait("vip", "equals", True), ["vip", "boolean"]),
        (trait("signed_up_at", "gt", 3), ["signed_up_at", "datetime"]),
        (computed("preferred_categories", "equals", "Shoes"), ["one_of"]),
        (computed("orders_count", "starts_with", "1"), ["number"]),
        (trait("address", "equals", "Lyon"), ["address"]),
        (did("No Such Thing"), ["No Such Thing"]),
        (did("Order Completed", filters=[where("nope", "equals", "x")]), ["nope"]),
        (did("Newsletter Opened", filters=[where("coupon", "equals", "x")]), ["coupon"]),
        (did("Order Completed", filters=[where("gift", "gt", 1)]), ["gift", "boolean"]),
        (did("Order Completed", filters=[where("products[].price", "contains", "1")]), ["price"]),
        (did("Order Completed", filters=[where("products[", "equals", "1")]), ["products["]),
        (did("Order Completed", sources=[987654321]), ["987654321"]),
        (trait("age", "between", 10, 5), ["between"]),
        (trait("age", "gt", "lots"), ["lots"]),
        (trait("signed_up_at", "in_last_days", -3), ["at least"]),
        (trait("signed_up_at", "after", "next tuesday"), ["next tuesday"]),
        (trait("plan", "one_of", []), ["one or more"]),
        (did("Order Completed", count=("at_least", -1)), ["count"]),
        (did("Order Completed", count=("sometimes", 1)), ["at_least"]),
        (did("Order Completed", window={"type": "last", "amount": 3, "unit": "years"}), ["window"]),
        (did("Order Completed", window={"type": "last", "amount": 10**6}), ["window"]),
        (did("Order Completed", window={"type": "between", "start": "2026-02-01"}), ["dates"]),
        (
            did(
                "Order Completed",
                window={"type": "between", "start": "2026-03-01", "end": "2026-02-01"},
            ),
            ["ends before"],
        ),
        (lifecycle("stopped", "Logged In", window={"type": "ever"}), ["window"]),
        (lifecycle("sometimes", "Logged In"), ["first_time"]),
        ({"kind": "consent", "channel": "fax", "state": "granted"}, ["channel"]),
        ({"kind": "segment", "segment": "abc"}, ["segment"]),
        ({"kind": "segment", "segment": True}, ["segment"]),
        ({"kind": "mystery"}, ["mystery"]),
        ({"kind": "attribute", "negate": "yes", "scope": "trait", "path": "plan"}, ["negate"]),
    ],
)
def test_definition_clean_refuses_with_a_clear_message(hostile, node, words):
    with pytest.raises(DefinitionError) as error:
        definition_clean(group(node))
    assert error.value.errors and all(isinstance(e, str) for e in error.value.errors)
    message = str(error.value)
    for word in words:
        assert word in message, message


def _nested(depth: int) -> dict:
    tree = group(trait("plan", "is_set"))
    for _ in range(depth):
        tree = group(tree)
    return tree


G = "Order Completed"
GARBAGE = {
    "none": None,
    "a list": [],
    "a string": "all",
    "a number": 42,
    "an empty object": {},
    "a leaf at the top": trait("plan", "equals", "x"),
    "conditions not a list": {"kind": "group", "conditions": "x"},
    "an unknown match": {"kind": "group", "match": "some", "conditions": []},
    "negate not a boolean": {"kind": "group", "negate": "no", "conditions": []},
    "conditions not objects": {"kind": "group", "conditions": [None, 3, "x", [], {}]},
    "an empty inner group": group(group()),
    "an attribute with nothing": group({"kind": "attribute"}),
    "a path not text": group({"kind": "attribute", "scope": "trait", "path": 5}),
    "a computed column outside the map": group(computed("id", "equals", 1)),
    "a computed path as a list": group({"kind": "attribute", "scope": "computed", "path": ["x"]}),
    "an activity as a list": group({**did(G), "activity": ["track"]}),
    "an activity without a name": group({**did(G), "activity": {"kind": "track"}}),
    "an unknown role": group(did({"role": "nope"})),
    "a role as a list": group(did({"role": ["x"]})),
    "an activity name not text": group(did({"kind": "track", "name": 5})),
    "where not a list": group({**did(G), "where": {"path": "total"}}),
    "where items not filters": group({**did(G), "where": [None, "total", {"path": None}]}),
    "sources not a list": group({**did(G), "sources": "all"}),
    "a source as a boolean": group({**did(G), "sources": [True]}),
    "a source id beyond bigint": group({**did(G), "sources": [10**30]}),
    "a count not an object": group({**did(G), "count": 3}),
    "a count beyond bigint": group({**did(G), "count": {"operator": "at_least", "value": 10**30}}),
    "a window as text": group({**did(G), "window": "last week"}),
    "a window unit as a number": group(did(G, window={"type": "last", "amount": "7", "unit": 7})),
    "a window amount NaN": group(did(G, window={"type": "last", "amount": float("nan")})),
    "a segment id beyond bigint": group({"kind": "segment", "segment": 10**30}),
    "a segment id as long digits": group({"kind": "segment", "segment": "9" * 23}),
    "a segment id negative": group({"kind": "segment", "segment": -1}),
    "a number NaN": group(trait("age", "gt", float("nan"))),
    "a number infinite": group(trait("age", "gt", float("inf"))),
    "a number with 400 digits": group(trait("age", "gt", 10**400)),
    "a number as an object": group(trait("age", "gt", {"$gt": 1})),
    "a text value as a list": group(trait("plan", "equals", ["a", "b"])),
    "one_of with an object": group(trait("plan", "one_of", [{"a": 1}])),
    "one_of with 1000 values": group(trait("plan", "one_of", [str(n) for n in range(1000)])),
    "a text value of 100 000 characters": group(trait("plan", "equals", "x" * 100_000)),
    "a date that does not exist": group(trait("signed_up_at", "after", "2026-02-31")),
    "a date as a number": group(trait("signed_up_at", "after", 12)),
    "500 conditions": group(*[trait("plan", "is_set")] * 500),
    # Lists and objects where a name is expected.
    "a lifecycle change as a list": group({**lifecycle("first_time", "Logged In"), "change": []}),
    "a window unit as a list": group(did(G, window={"type": "last", "amount": 1, "unit": []})),
    "a count operator as a list": group({**did(G), "count": {"operator": [], "value": 1}}),
    "a consent channel as a list": group({"kind": "consent", "channel": [], "state": "granted"}),
    "a consent state as an object": group({"kind": "consent", "channel": "email", "state": {}}),
    # Text Postgres cannot hold, in names.
    "NUL in a trait path": group(trait("\x00", "is_set")),
    "NUL in an activity name": group(did({"kind": "track", "name": "\x00"})),
    "NUL in a property path": group(did(G, filters=[where("\x00", "equals", "x")])),
    "a lone surrogate in a trait path": group(trait("\ud800", "is_set")),
    "a lone surrogate in a property path": group(did(G, filters=[where("a\udfff", "is_set")])),
    "a lone surrogate in an activity name": group(did({"kind": "track", "name": "\ud800"})),
    "groups 30 deep": _nested(30),
    "groups 2000 deep": _nested(2000),
}


@pytest.mark.parametrize("tree", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_is_refused_with_a_definition_error_only(hostile, tree):
    with transaction.atomic(), pytest.raises(DefinitionError) as error:
        definition_clean(tree)
    assert error.value.errors


def _run(tree: Any) -> None:
    """Clean (a DefinitionError is a fine answer) and, when clean, compile and count."""
    with transaction.atomic():
        try:
            clean = definition_clean(tree)
        except DefinitionError as error:
            assert error.errors and all(isinstance(e, str) for e in error.errors)
            return
        count = segment_count(clean)
        assert count >= 0


# Valid shapes with extreme values: refused by definition_clean, or run.
EXTREMES = {
    "in the last million days": group(trait("signed_up_at", "in_last_days", 10**6)),
    "more than a billion days ago": group(computed("last_seen", "more_than_days_ago", 10**9)),
    "a property in the last 10 million days": group(
        did(G, filters=[where("delivery_date", "in_last_days", 10**7)])
    ),
    "a window ending 9999-12-31": group(did(G, window=between("2020-01-01", "9999-12-31"))),
    "a window on 0001-01-01": group(did(G, window=between("0001-01-01", "0001-01-01"))),
    "first time in year 1": group(
        lifecycle("first_time", "Logged In", window=between("0001-01-01", "0001-01-02"))
    ),
    "stopped over 100 years": group(lifecycle("stopped", "Logged In", window=last(36500))),
    "after 9999-12-31": group(trait("signed_up_at", "after", "9999-12-31")),
    "before 0001-01-01": group(trait("signed_up_at", "before", "0001-01-01")),
    "after the first moment": group(trait("signed_up_at", "after", "0001-01-01T00:00:00-12:00")),
    "before the last moment": group(trait("signed_up_at", "before", "9999-12-31T23:59:59-12:00")),
    "a lone surrogate in a value": group(trait("plan", "equals", "\ud800")),
    "a lone surrogate in one_of": group(trait("plan", "one_of", ["\ud800"])),
    "a lone surrogate in a filter": group(did(G, filters=[where("coupon", "contains", "a\udfff")])),
    "NUL in a value": group(trait("plan", "equals", "\x00")),
    "a number in exponent form": group(trait("age", "gt", "1e3")),
    "the widest between": group(trait("age", "between", -(10**15), 10**15)),
    "exactly a million times": group(did(G, count=("exactly", 10**6))),
}


@pytest.mark.parametrize("tree", EXTREMES.values(), ids=EXTREMES.keys())
def test_extreme_values_are_refused_or_run(hostile, tree):
    _run(tree)


# --- random trees ------------------------------------------------------------------------------

TRAITS = [
    ("plan", "string"),
    ("nickname", "string"),
    ("address.city", "string"),
    ("tags[]", "string"),
    ("customer_code", "string"),
    ("age", "number"),
    ("vip", "boolean"),
    ("sms_opt_in", "boolean"),
    ("signed_up_at", "datetime"),
    *[(escape_key(key), "string") for key in HOSTILE_KEYS],
]
ORDER_FIELDS = [
    ("coupon", "string"),
    ("order_id", "string"),
    ("gift", "boolean"),
    ("delivery_date", "datetime"),
    ("total", "number"),
    ("products[].category", "string"),
    ("products[].price", "number"),
    ("products[].sku", "string"),
]
ACTIVITIES: list[tuple[dict, list[tuple[str, str]]]] = [
    (
        {"kind": "track", "name": "Product Viewed"},
        [("price", "number"), ("category", "string"), ("sku", "string"), ("brand", "string")],
    ),
    ({"kind": "track", "name": "Order Completed"}, ORDER_FIELDS),
    ({"role": "order_completed"}, ORDER_FIELDS),
    (
        {"role": "product_added"},
        [("category", "string"), ("price", "number"), ("quantity", "number")],
    ),
    ({"kind": "track", "name": "Newsletter Opened"}, [("campaign", "string")]),
    ({"kind": "track", "name": "Logged In"}, [("method", "string")]),
    ({"kind": "page", "name": ""}, []),
    (
        {"kind": "track", "name": HOSTILE_ACTIVITY},
        [(escape_key(key), "string") for key in HOSTILE_KEYS],
    ),
]

# Text as people type it, and worse: any script, quotes, backslashes, LIKE wildcards (blank
# text is refused: "is set" says it).
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
).filter(str.strip) | st.sampled_from(
    ["'", '"', "\\", "%", "_", HOSTILE_VALUE, "Shoes", "gold", "ÉLÈVE 🛒"]
)
numbers = (
    st.integers(min_value=-(10**14), max_value=10**14)
    | st.floats(min_value=-1e14, max_value=1e14, allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(10**6), max_value=10**6).map(str)
)
moments = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)).map(
    date.isoformat
) | st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2100, 12, 30), timezones=st.just(UTC)
).map(datetime.isoformat)
dates = moments.map(lambda moment: moment[:10])
days = st.integers(min_value=0, max_value=3650)


@st.composite
def comparison(draw, kind: str) -> dict[str, Any]:
    operator = draw(st.sampled_from([op for op, _ in OPERATORS[kind]]))
    node: dict[str, Any] = {"operator": operator}
    if operator in ("is_set", "is_not_set", "is_true", "is_false"):
        return node
    if operator == "one_of":
        node["value"] = draw(st.lists(text.filter(bool), min_size=1, max_size=4))
    elif operator in ("in_last_days", "more_than_days_ago"):
        node["value"] = draw(days)
    elif kind == "number":
        node["value"] = draw(numbers)
        if operator == "between":
            node["value2"] = draw(numbers)
            low, high = sorted([float(node["value"]), float(node["value2"])])
            node["value"], node["value2"] = low, high
    elif kind == "datetime":
        node["value"] = draw(moments)
    else:
        node["value"] = draw(text)
    return node


@st.composite
def windows(draw, allow: tuple[str, ...] = ("last", "between", "ever")) -> dict[str, Any]:
    kind = draw(st.sampled_from(allow))
    if kind == "last":
        unit = draw(st.sampled_from(["minutes", "hours", "days", "weeks"]))
        return {"type": "last", "amount": draw(st.integers(1, 500)), "unit": unit}
    if kind == "between":
        start, end = sorted(draw(st.lists(dates, min_size=2, max_size=2)))
        return {"type": "between", "start": start, "end": end}
    return {"type": "ever"}


def _group_node(conditions: list[dict], match: str, negate: bool) -> dict:
    return {"kind": "group", "match": match, "negate": negate, "conditions": conditions}


def _segment_node(segment: int, negate: bool) -> dict:
    return {"kind": "segment", "negate": negate, "segment": segment}


def _consent_node(channel: str, state: str, negate: bool) -> dict:
    return {"kind": "consent", "negate": negate, "channel": channel, "state": state}


def leaves(source_ids: tuple[int, ...], segment_ids: tuple[int, ...]) -> st.SearchStrategy[dict]:
    sources = st.lists(st.sampled_from(source_ids), unique=True, max_size=2)
    negate = st.booleans()

    @st.composite
    def trait_leaf(draw):
        path, kind = draw(st.sampled_from(TRAITS))
        node = {"kind": "attribute", "negate": draw(negate), "scope": "trait", "path": path}
        return {**node, **draw(comparison(kind))}

    @st.composite
    def computed_leaf(draw):
        path = draw(st.sampled_from(sorted(COMPUTED_ATTRIBUTES)))
        kind = COMPUTED_ATTRIBUTES[path][1]
        node = {"kind": "attribute", "negate": draw(negate), "scope": "computed", "path": path}
        return {**node, **draw(comparison(kind))}

    @st.composite
    def filters(draw, fields):
        if not fields:
            return []
        chosen = draw(st.lists(st.sampled_from(fields), max_size=3))
        return [{"path": path, **draw(comparison(kind))} for path, kind in chosen]

    @st.composite
    def behaviour_leaf(draw):
        activity, fields = draw(st.sampled_from(ACTIVITIES))
        return {
            "kind": "behaviour",
            "negate": draw(negate),
            "activity": activity,
            "count": {
                "operator": draw(st.sampled_from(["at_least", "at_most", "exactly"])),
                "value": draw(st.integers(0, 4)),
            },
            "window": draw(windows()),
            "where": draw(filters(fields)),
            "sources": draw(sources),
        }

    @st.composite
    def lifecycle_leaf(draw):
        activity, fields = draw(st.sampled_from(ACTIVITIES))
        change = draw(st.sampled_from(["first_time", "stopped"]))
        allow = ("last", "between") if change == "first_time" else ("last",)
        return {
            "kind": "lifecycle",
            "negate": draw(negate),
            "change": change,
            "activity": activity,
            "window": draw(windows(allow)),
            "where": draw(filters(fields)),
            "sources": draw(sources),
        }

    segment_leaf = st.builds(_segment_node, st.sampled_from(segment_ids), negate)
    consent_leaf = st.builds(
        _consent_node,
        st.sampled_from(["email", "sms"]),
        st.sampled_from(["granted", "withdrawn", "unknown"]),
        negate,
    )
    return st.one_of(
        trait_leaf(),
        computed_leaf(),
        behaviour_leaf(),
        lifecycle_leaf(),
        segment_leaf,
        consent_leaf,
    )


@functools.cache
def _trees(source_ids: tuple[int, ...], segment_ids: tuple[int, ...], depth: int):
    children = leaves(source_ids, segment_ids)
    if depth > 1:
        children = children | _trees(source_ids, segment_ids, depth - 1)
    return st.builds(
        _group_node,
        st.lists(children, min_size=1, max_size=3),
        st.sampled_from(["all", "any"]),
        st.booleans(),
    )


def trees(store: Store, depth: int = 3) -> st.SearchStrategy[dict]:
    """Groups nested up to `depth` deep, each with one to three conditions (built once per
    store: building strategies costs more than drawing from them)."""
    segment_ids = tuple(segment.pk for segment in store.segments.values())
    return _trees((store.web.pk, store.server.pk), segment_ids, depth)


PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    # One failure, shrunk, is enough to act on; shrinking several costs minutes.
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# Each example cleans and runs a tree and its negation: about twenty queries.
@settings(PROPERTY_SETTINGS, max_examples=100)
@given(data=st.data())
def test_random_valid_trees_clean_compile_and_split_everyone(hostile, data):
    tree = data.draw(trees(hostile))
    everyone = len(hostile.people)
    # A savepoint per example: a failing query must not poison the next one (or the shrink).
    with transaction.atomic():
        parsed = definition_parse(tree)
        clean = definition_clean(tree)
        assert clean == definition_clean(clean)  # cleaning is stable
        assert tree_to_json(parsed) == clean and tree_from_json(clean) == parsed
        count = segment_count(clean)
        opposite = segment_count(definition_clean(negated(tree)))
        assert 0 <= count <= everyone
        assert count + opposite == everyone, (count, opposite)
        sql, params = segment_sql(clean)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            assert len(cursor.fetchall()) == count
        assert definition_sentence(clean)


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(data=st.data())
def test_explain_agrees_with_the_compiler(hostile, data):
    """ "Why is this person in or out?" gives the answer the segment's query gives."""
    tree = data.draw(trees(hostile))
    name = data.draw(st.sampled_from(sorted(hostile.people)))
    with transaction.atomic():
        clean = definition_clean(tree)
        now = timezone.now()
        inside = segment_profiles(clean, now=now).filter(pk=hostile.people[name]).exists()
        explained = explain(clean, hostile.profile(name), now=now)
        assert explained.met == inside, (name, explained)
        pending = [explained]
        while pending:
            node = pending.pop()
            assert isinstance(node.sentence, str) and node.sentence
            pending.extend(node.children)


# Values no form would send: huge and non-finite numbers, far dates, NUL, lone surrogates,
# containers where scalars belong.
wild = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**14, max_value=10**40),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "\x00",
            "\ud800",
            "0001-01-01",
            "9999-12-31",
            "9999-12-31T23:59:59+00:00",
            "0001-01-01T00:00:00-12:00",
            "2026-02-31",
            "1e400",
            "NaN",
            "-0",
            " 12 ",
            "12,5",
        ]
    ),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@st.composite
def mutated(draw, store: Store) -> dict:
    """A valid tree with some values replaced by wild ones."""
    tree = draw(trees(store, depth=2))

    def mutate(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key in ("kind", "conditions"):
                    out[key] = mutate(value)
                elif draw(st.integers(0, 5)) == 0:
                    out[key] = draw(wild)
                else:
                    out[key] = mutate(value)
            return out
        if isinstance(node, list):
            return [mutate(item) for item in node]
        return node

    return mutate(tree)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_wild_values_are_refused_or_run(hostile, data):
    _run(data.draw(mutated(hostile)))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "kind",
                    "match",
                    "negate",
                    "conditions",
                    "scope",
                    "path",
                    "operator",
                    "value",
                    "value2",
                    "activity",
                    "count",
                    "window",
                    "where",
                    "sources",
                    "change",
                    "segment",
                    "channel",
                    "state",
                    "type",
                    "amount",
                    "unit",
                    "start",
                    "end",
                    "role",
                    "name",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
kinds = st.sampled_from(["group", "attribute", "behaviour", "lifecycle", "segment", "consent"])


@PROPERTY_SETTINGS
@given(
    tree=st.builds(
        lambda conditions, body: {**body, "kind": "group", "conditions": conditions},
        st.lists(
            st.builds(
                lambda kind, body: {**body, "kind": kind},
                kinds,
                json_values.filter(lambda v: isinstance(v, dict)) | st.just({}),
            ),
            max_size=4,
        ),
        st.dictionaries(st.sampled_from(["match", "negate"]), json_values, max_size=2),
    )
    | json_values
)
def test_garbage_trees_are_refused_or_run(hostile, tree):
    _run(tree)


def test_float_values_survive_cleaning(hostile):
    """A price typed as 0.1 + 0.2 compiles to a number, not to a float's repr."""
    clean = definition_clean(group(trait("age", "gt", 0.1 + 0.2)))
    assert math.isclose(clean["conditions"][0]["value"], 0.3)
    assert hostile.members(trait("age", "gt", 0.1 + 0.2)) == hostile.others(
        "Gus", "Hana", "Ivy", "Anon", "Mallory", "Nina"
    )
