"""Small SQL expressions for the segment compiler, whose text comes only from this code.

`SqlExpr` is a fixed SQL template over sub-expressions (`{0}`, `{1}`, … each compiled by
Django, so table aliases stay right inside subqueries) and parameters (`%s`). User input only
ever reaches Postgres as parameters: values, and JSON paths as `text[]` for `#>`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.db.models import BooleanField, Expression, Field, JSONField

_PLACEHOLDER = re.compile(r"\{(\d+)\}|%s")


class SqlExpr(Expression):
    """`template` with `{n}` for the n-th source expression and `%s` for the parameters, in
    order. A source may appear several times; its SQL and parameters are repeated."""

    def __init__(
        self,
        template: str,
        sources: list[Any] | tuple[Any, ...] = (),
        params: list[Any] | tuple[Any, ...] = (),
        output_field: Field | None = None,
    ) -> None:
        super().__init__(output_field=output_field or BooleanField())
        self.template = template
        self.sources = list(sources)
        self.params = list(params)

    def __repr__(self) -> str:
        return f"SqlExpr({self.template!r}, {self.sources!r}, {self.params!r})"

    def get_source_expressions(self) -> list[Any]:
        return self.sources

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.sources = list(exprs)

    def resolve_expression(
        self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False
    ):
        clone = self.copy()
        clone.is_summary = summarize
        clone.sources = [
            source.resolve_expression(query, allow_joins, reuse, summarize, for_save)
            for source in self.sources
        ]
        return clone

    # The stubs allow only str and int parameters in a tuple; Django takes any SQL value, in a
    # list or a tuple (a Decimal, a datetime, a list for ANY(%s) here).
    def as_sql(self, compiler, connection) -> tuple[str, list[Any]]:  # type: ignore[override]
        compiled = [compiler.compile(source) for source in self.sources]
        params: list[Any] = []
        own = iter(self.params)

        def substitute(match: re.Match) -> str:
            if match.group(1) is not None:
                sql, source_params = compiled[int(match.group(1))]
                params.extend(source_params)
                return sql
            params.append(next(own))
            return "%s"

        return _PLACEHOLDER.sub(substitute, self.template), params


class Fixed(Expression):
    """A fixed piece of SQL, such as the column of a set-returning function's alias."""

    def __init__(self, sql: str, output_field: Field | None = None) -> None:
        super().__init__(output_field=output_field or JSONField())
        self.sql = sql

    def as_sql(self, compiler, connection) -> tuple[str, list[Any]]:  # type: ignore[override]
        return self.sql, []


def json_at(json: Any, keys: list[str]) -> Any:
    """The JSON value at a path (`#>`, the keys as one `text[]` parameter)."""
    if not keys:
        return json
    return SqlExpr("({0} #> %s)", [json], [list(keys)], output_field=JSONField())
