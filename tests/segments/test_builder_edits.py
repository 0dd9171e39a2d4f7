"""The builder's edits are pure: each returns the next tree and leaves the one it was given
as it was, so a redraw can never change the tree a page still holds."""

from __future__ import annotations

import copy

import pytest

from segments.builder import BuilderCatalog, tree_apply, tree_normalise
from tests.segments.conftest import EVER, computed, did, group, lifecycle, where

pytestmark = pytest.mark.django_db


def test_structure_changes_return_a_new_tree_and_keep_the_old_one():
    tree = group(did("Order Completed", filters=[where("total", "gt", 5)]))
    before = copy.deepcopy(tree)

    added = tree_apply(tree, "add:n:group")
    assert [c["kind"] for c in added["conditions"]] == ["behaviour", "group"]
    # A new group starts with one condition.
    assert [c["kind"] for c in added["conditions"][1]["conditions"]] == ["behaviour"]

    filtered = tree_apply(tree, "add_filter:n.0")
    assert len(filtered["conditions"][0]["where"]) == 2
    assert filtered["conditions"][0]["where"][1] == {"path": "", "operator": "equals", "value": ""}

    assert tree_apply(tree, "remove_filter:n.0:0")["conditions"][0]["where"] == []
    assert tree_apply(tree, "remove:n.0")["conditions"] == []
    assert tree == before


def test_actions_naming_nothing_change_nothing():
    tree = group(did("Order Completed"))
    for action in ("remove:n.5", "add:n.0:behaviour", "remove_filter:n.0:3", "explode:n", "add:x"):
        assert tree_apply(tree, action) == tree, action
    # The top group is never removed.
    assert tree_apply(tree, "remove:n") == tree


def test_normalising_returns_a_drawable_tree_and_keeps_the_old_one(store):
    tree = group(
        computed("orders_count", "contains", "3"),
        lifecycle("stopped", "Order Completed", window=EVER),
    )
    before = copy.deepcopy(tree)
    drawn = tree_normalise(tree, BuilderCatalog())
    # An operator that does not fit the field's type becomes the type's first one.
    assert drawn["conditions"][0]["operator"] == "equals"
    assert drawn["conditions"][0]["value"] == ""
    # A window the change does not allow becomes the default one.
    assert drawn["conditions"][1]["window"] == {"type": "last", "amount": 30, "unit": "days"}
    assert tree == before
