"""Admin pieces that keep list pages fast on tables of millions of rows."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html

if TYPE_CHECKING:
    _Paginator = Paginator[Any]
    _ModelAdmin = admin.ModelAdmin[Any]
else:  # Django's classes are generic in django-stubs only.
    _Paginator = Paginator
    _ModelAdmin = admin.ModelAdmin

# Up to this many rows a filtered list is counted exactly; past it, estimated.
EXACT_COUNT_LIMIT = 10_000


class EstimatedCountPaginator(_Paginator):
    """Counts a list exactly only while that is cheap: `COUNT(*)` on a large table is a full
    scan. Unfiltered, it reads Postgres' own estimate of the table size (`pg_class.reltuples`,
    kept by autovacuum); filtered, it counts at most `EXACT_COUNT_LIMIT` + 1 matching rows
    and, past that, takes the planner's estimate of the filtered query (never below what it
    counted), so a filter matching millions of rows costs ten thousand, not millions."""

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if not isinstance(object_list, QuerySet):
            return super().count
        if not object_list.query.where:
            estimate = table_estimate(object_list.model._meta.db_table)
            # reltuples is -1 before the first analyze; small tables are cheap to count.
            return estimate if estimate >= EXACT_COUNT_LIMIT else super().count
        counted = object_list.order_by()[: EXACT_COUNT_LIMIT + 1].count()
        if counted <= EXACT_COUNT_LIMIT:
            return counted
        return max(counted, planner_estimate(object_list))


def table_estimate(db_table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [db_table]
        )
        row = cursor.fetchone()
    return int(row[0]) if row else -1


def planner_estimate(queryset: QuerySet[Any]) -> int:
    """The rows Postgres expects the query to return (EXPLAIN, which runs nothing)."""
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


class SortableOnlyChangeList(ChangeList):
    """Sorts only by the columns the admin declares sortable (`sortable_by`, columns an
    index serves): Django drops the other headers' links but still obeys `?o=` in the
    address, which sorts the whole table."""

    def get_ordering(self, request: HttpRequest, queryset: QuerySet[Any]) -> list[Any]:
        requested = str(self.params.get(ORDER_VAR, ""))
        if requested and not self._sortable(requested):
            self.params = {key: value for key, value in self.params.items() if key != ORDER_VAR}
        return super().get_ordering(request, queryset)

    def _sortable(self, requested: str) -> bool:
        if self.sortable_by is None:
            return True
        allowed = set(self.sortable_by)
        try:
            columns = [self.list_display[int(part.lstrip("-"))] for part in requested.split(".")]
        except (ValueError, IndexError):
            return False
        return all(column in allowed for column in columns)


class LargeTableAdmin(_ModelAdmin):
    """The list of a large table: counted by EstimatedCountPaginator, sorted only by
    `sortable_by` (SortableOnlyChangeList), and searched exactly.

    The search box matches each of `search_fields` exactly and case-sensitively.

    Django's `=field` search is `iexact`, which Postgres runs as `UPPER(field) = UPPER(…)`:
    no plain b-tree index serves it, so every search scanned the table. `field = …` uses the
    field's index, and the ORed fields combine as a bitmap OR of index scans."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return SortableOnlyChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q()
        for name in self.search_fields:
            match |= Q(**{name.lstrip("=^@"): term})
        return queryset.filter(match), False


class ReadOnlyAdmin(_ModelAdmin):
    """A table written only by the app (rollups, counters, marks): shown, never edited
    by hand, as an edit would silently disagree with what it counts."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def pretty_json(value: Any) -> str:
    """A JSON value for a read-only admin field: indented, keys in their stored order, in a
    <pre> (escaped by format_html)."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return format_html('<pre class="readonly-json">{}</pre>', text)
