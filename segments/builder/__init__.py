"""The visual segment builder: the condition tree as one HTML form (`form`), the structure
changes its buttons ask for (`edits`), and what the template draws (`view`), with the catalog
read once per drawing (`catalog`)."""

from segments.builder.catalog import BuilderCatalog, Choice, FieldInfo, drift_note
from segments.builder.edits import BuilderAction, tree_apply, tree_normalise
from segments.builder.form import (
    activity_key,
    activity_selector,
    tree_form_data,
    tree_from_form,
    whole_number_or_none,
)
from segments.builder.view import ComparisonView, NodeView, builder_context, value_input

__all__ = [
    "BuilderAction",
    "BuilderCatalog",
    "Choice",
    "ComparisonView",
    "FieldInfo",
    "NodeView",
    "activity_key",
    "activity_selector",
    "builder_context",
    "drift_note",
    "tree_apply",
    "tree_form_data",
    "tree_from_form",
    "tree_normalise",
    "value_input",
    "whole_number_or_none",
]
