"""Form text without NUL characters, for every app's forms and query strings.

PostgreSQL text cannot hold NUL (`\\x00`), and nobody means one in a form: one pasted from
elsewhere or sent by a fuzzer is dropped before anything else reads the value, rather than
refused (Django's `CharField` refuses it with "Null characters are not allowed.", which no
marketer could act on). Values that come in another way than a form (the ingest API, CSV
imports, a stored definition) are cleaned where they are read.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict


def without_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


class NulFreeCharField(forms.CharField):
    """A `CharField` that drops NUL characters before trimming and validation."""

    def to_python(self, value: Any) -> str | None:
        return super().to_python(without_nul(value))


class QueryTextForm(forms.Form):
    """One text of a page's query string (a search box, a filter): NUL dropped, spaces
    trimmed unless `strip` is false (a value picked from a list, not typed), cut to
    `max_length` (a longer text matches nothing a marketer typed)."""

    def __init__(
        self, params: QueryDict, *, name: str = "q", max_length: int = 200, strip: bool = True
    ) -> None:
        super().__init__(params)
        self.name, self.max_length = name, max_length
        self.fields[name] = NulFreeCharField(required=False, strip=strip)

    @property
    def text(self) -> str:
        return self.cleaned_data[self.name][: self.max_length] if self.is_valid() else ""


def query_text(
    params: QueryDict, name: str = "q", *, max_length: int = 200, strip: bool = True
) -> str:
    """The text `name` of a query string, through `QueryTextForm`."""
    return QueryTextForm(params, name=name, max_length=max_length, strip=strip).text
