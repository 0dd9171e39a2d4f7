"""Admin pieces that keep list pages fast on tables of millions of rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.utils.functional import cached_property

if TYPE_CHECKING:
    _Paginator = Paginator[Any]
else:  # Django's classes are generic in django-stubs only.
    _Paginator = Paginator


class EstimatedCountPaginator(_Paginator):
    """Counts exactly when the list is filtered, and reads Postgres' own estimate of the
    table size (`pg_class.reltuples`, kept by autovacuum) when it is not: `COUNT(*)` on a
    large table is a full scan."""

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if not isinstance(object_list, QuerySet) or object_list.query.where:
            return super().count
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [object_list.model._meta.db_table],
            )
            row = cursor.fetchone()
        estimate = int(row[0]) if row else -1
        # reltuples is -1 before the first analyze; small tables are cheap to count.
        return estimate if estimate >= 10_000 else super().count
