"""Admin pieces that keep list pages fast on tables of millions of rows."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """Counts exactly when the list is filtered, and reads Postgres' own estimate of the
    table size (`pg_class.reltuples`, kept by autovacuum) when it is not: `COUNT(*)` on a
    large table is a full scan."""

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        if query.where:
            return super().count
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [self.object_list.model._meta.db_table],
            )
            row = cursor.fetchone()
        estimate = int(row[0]) if row else -1
        # reltuples is -1 before the first analyze; small tables are cheap to count.
        return estimate if estimate >= 10_000 else super().count
