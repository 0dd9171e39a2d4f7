"""Text from forms and query strings never carries a NUL, which PostgreSQL text cannot hold."""

from __future__ import annotations

from django import forms
from django.http import QueryDict

from cdp_project.core.forms import NulFreeCharField, query_text


class NoteLike(forms.Form):
    body = NulFreeCharField(max_length=10)
    kept = NulFreeCharField(required=False, strip=False)


def test_a_nul_is_dropped_before_trimming_and_validation():
    form = NoteLike({"body": " \x00hello\x00 ", "kept": " a\x00b "})
    assert form.is_valid(), form.errors
    assert form.cleaned_data == {"body": "hello", "kept": " ab "}
    # Only NULs: as empty as nothing at all.
    form = NoteLike({"body": "\x00\x00"})
    assert not form.is_valid()
    assert form.errors["body"] == ["This field is required."]
    # The length counts what is kept.
    assert NoteLike({"body": "\x00" * 20 + "short"}).is_valid()


def test_query_text_is_trimmed_cut_and_free_of_nul():
    params = QueryDict(mutable=True)
    params.update({"q": "  sho\x00es  ", "long": "x" * 500, "activity": " Order Completed"})
    assert query_text(params) == "shoes"
    assert query_text(params, "long") == "x" * 200
    assert query_text(params, "missing") == ""
    assert query_text(params, "activity", strip=False) == " Order Completed"
