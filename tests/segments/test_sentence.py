"""Every definition reads as a sentence a marketer can check."""

from __future__ import annotations

import pytest

from ingestion.models import Activity, Source
from segments.models import Segment
from segments.sentence import definition_sentence

pytestmark = pytest.mark.django_db


def did(name: str, *, negate: bool = False, where: list | None = None, **extra) -> dict:
    return {
        "kind": "behaviour",
        "negate": negate,
        "activity": {"kind": "track", "name": name},
        "count": {"operator": "at_least", "value": 1},
        "window": {"type": "last", "amount": 7, "unit": "days"},
        "where": where or [],
        "sources": [],
        **extra,
    }


def group(*conditions: dict, match: str = "all", negate: bool = False) -> dict:
    return {"kind": "group", "match": match, "negate": negate, "conditions": list(conditions)}


def test_the_issue_example_reads_as_written():
    tree = group(did("Product Added"), did("Order Completed", negate=True))
    assert definition_sentence(tree) == (
        "People who did Product Added at least once in the last 7 days and did not do "
        "Order Completed in the last 7 days"
    )


def test_filters_on_one_array_read_as_one_item_and_close_with_a_comma():
    shoes = {"path": "products[].category", "operator": "equals", "value": "Shoes"}
    dear = {"path": "products[].price", "operator": "gt", "value": 50}
    tree = group(did("Product Added", where=[shoes, dear]), did("Order Completed", negate=True))
    assert definition_sentence(tree) == (
        "People who did Product Added at least once in the last 7 days, with an item of "
        "products whose category is Shoes and price > 50, and did not do Order Completed in "
        "the last 7 days"
    )
    # Last in its group, the filters need no closing comma.
    assert definition_sentence(group(did("Product Added", where=[shoes]))).endswith(
        "whose category is Shoes"
    )


def test_labels_counts_windows_groups_sources_segments_and_consent():
    Activity.objects.create(kind="track", name="order_completed", display_name="Bought")
    web = Source.objects.create(name="Web shop")
    vip = Segment.objects.create(name="VIP")
    tree = group(
        did(
            "order_completed",
            count={"operator": "exactly", "value": 3},
            window={"type": "between", "start": "2026-11-01", "end": "2026-11-20"},
            sources=[web.pk],
        ),
        group(
            {"kind": "segment", "negate": False, "segment": vip.pk},
            {"kind": "consent", "negate": True, "channel": "sms", "state": "granted"},
            match="any",
        ),
        {
            "kind": "attribute",
            "negate": False,
            "scope": "computed",
            "path": "orders_count",
            "operator": "between",
            "value": 2,
            "value2": 5,
        },
    )
    assert definition_sentence(tree) == (
        "People who did Bought exactly 3 times between 2026-11-01 and 2026-11-20 on Web shop "
        "and (are in VIP or have not opted in to SMS) and whose orders is between 2 and 5"
    )


def test_attributes_read_with_whose_and_negations_turn_the_verb():
    def attribute(operator: str, value, negate: bool = False) -> dict:
        return {
            "kind": "attribute",
            "negate": negate,
            "scope": "trait",
            "path": "tier",
            "operator": operator,
            "value": value,
        }

    assert definition_sentence(group(attribute("equals", "gold"))) == "People whose tier is gold"
    assert definition_sentence(group(attribute("equals", "gold", negate=True))) == (
        "People whose tier is not gold"
    )
    assert definition_sentence(group(attribute("contains", "go", negate=True))) == (
        "People whose tier does not contain go"
    )
    assert definition_sentence(group(attribute("gt", 3, negate=True))) == (
        "People whose tier is not > 3"
    )


def test_an_empty_definition_is_everyone():
    assert definition_sentence(group()) == "Everyone"
