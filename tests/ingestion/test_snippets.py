"""The ready-to-paste code on an activity's page: typed placeholders, the examples beside
them as comments, never a personal value."""

from __future__ import annotations

import ast
import json
import re

from ingestion.catalog.snippets import (
    Placeholder,
    activity_snippets,
    example_text,
    placeholder_payload,
    plain,
)
from ingestion.models import Activity, ActivityProperty


def field(path: str, kind: str, examples=(), personal: bool = False) -> ActivityProperty:
    counts = {f"{kind}_count": 1}
    return ActivityProperty(path=path, examples=list(examples), personal=personal, **counts)


FIELDS = [
    field("order_id", "string", ["o-7"]),
    field("phone", "string", ["•••••••78"]),
    field("shipping", "object"),
    field("shipping.address", "object"),
    field("shipping.address.city", "string", ["Lyon"]),
    field("products", "array"),
    field("products[]", "object"),
    field("products[].sku", "string", ["SKU-1"]),
    field("products[].price", "number", ["4.50", 12.5]),  # a drifted value is skipped
    field("products[].quantity", "number", [2, 3]),
    field("tags", "array"),
    field("tags[]", "string", ["new"]),
    field("email", "string", ["ada@example.com"], personal=True),
    field("a\\.b", "boolean", [True]),
    field("placed_at", "datetime", ["2026-03-01T10:00:00Z"]),
]


def snippets_for(fields, kind: str = "track") -> dict[str, str]:
    activity = Activity(kind=kind, name="Order Completed")
    return activity_snippets(
        activity=activity, fields=fields, base_url="http://cdp.test", write_key="KEY"
    )


def test_each_type_gets_its_placeholder_and_nesting_follows_the_paths():
    assert plain(placeholder_payload(FIELDS)) == {
        "a.b": False,
        "email": "<email>",
        "order_id": "<order_id>",
        "phone": "<phone>",
        "placed_at": "<ISO 8601 time>",
        "products": [{"price": 0.0, "quantity": 0, "sku": "<sku>"}],
        "shipping": {"address": {"city": "<city>"}},
        "tags": ["<tags>"],
    }


def test_examples_are_kept_beside_the_placeholders_but_never_a_personal_or_masked_one():
    payload = placeholder_payload(FIELDS)
    assert payload["order_id"] == Placeholder("<order_id>", 'e.g. "o-7"')
    assert payload["products"][0]["price"] == Placeholder(0.0, "e.g. 12.5")
    assert payload["a.b"] == Placeholder(False, "e.g. true")
    assert payload["email"] == Placeholder("<email>", None)
    assert payload["phone"] == Placeholder("<phone>", None)
    for snippet in snippets_for(FIELDS).values():
        assert "ada@example.com" not in snippet
        assert "•" not in snippet


def test_no_example_value_is_sent_only_shown_in_comments():
    snippets = snippets_for(FIELDS)
    body = json.loads(snippets["curl"].split("-d '", 1)[1].rstrip("'"))
    assert body["userId"] == "<user_id>"
    assert body["event"] == "Order Completed"
    assert body["properties"] == plain(placeholder_payload(FIELDS))
    assert '# order_id: e.g. "o-7"' in snippets["curl"]
    assert '# products[].sku: e.g. "SKU-1"' in snippets["curl"]
    # The Python snippet parses, and its call sends placeholders only.
    tree = ast.parse(snippets["python"])
    call = tree.body[-2].value
    assert ast.literal_eval(call.args[2]) == plain(placeholder_payload(FIELDS))
    assert "user_id = '<user_id>'" in snippets["python"]
    assert "'sku': '<sku>',  # e.g. \"SKU-1\"" in snippets["python"]
    assert '"order_id": "<order_id>",  // e.g. "o-7"' in snippets["web"]


def test_the_web_snippet_is_a_javascript_object_once_comments_are_stripped():
    web = snippets_for(FIELDS)["web"]
    assert web.startswith('analytics.track("Order Completed", {')
    body = web.split(", ", 1)[1].rsplit(");", 1)[0]
    lines = [line.split("  //", 1)[0] for line in body.splitlines()]
    # Trailing commas aside, what is left is JSON.
    cleaned = re.sub(r",(\s*[}\]])", r"\1", "\n".join(lines))
    assert json.loads(cleaned) == plain(placeholder_payload(FIELDS))


def test_a_page_snippet_names_the_page_with_a_placeholder():
    snippets = snippets_for([field("path", "string", ["/shoes"])], kind="page")
    assert snippets["web"].startswith('analytics.page("<page_name>", {')
    assert "name='<page_name>'" in snippets["python"]


def test_an_example_cannot_end_its_comment_or_the_string_it_sits_in():
    hostile = "a\nb\u2028c\u0085d\"'*/ </pre>"
    assert example_text(hostile) == '"a\\nb\\u2028c\\u0085d\\"\'*/ </pre>"'
    snippets = snippets_for([field("note", "string", [hostile]), field("k\nx", "string", ["v"])])
    for name, snippet in snippets.items():
        for line in snippet.splitlines():
            if name == "curl" and line.startswith("  -d"):
                break
            # Every example stays on the line of its comment.
            assert "c\\u0085d" not in line or ("//" in line or "#" in line)
        assert "\u2028" not in snippet and "\u0085" not in snippet
    ast.parse(snippets["python"])  # still valid Python


def test_a_long_example_is_shortened():
    text = example_text("x" * 200)
    assert len(text) == 60 and text.endswith("…")
