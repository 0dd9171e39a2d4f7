"""Postgres types of profile columns, for the statements that pass a batch's values as one
JSON document (`jsonb_to_recordset(%s::jsonb) AS t(… text, …)`) or as arrays instead of row
by row."""

from __future__ import annotations

from django.db.models import Field

_SQL_TYPES = {
    "CharField": "text",
    "JSONField": "jsonb",
    "DateTimeField": "timestamptz",
    "IntegerField": "integer",
    "SmallIntegerField": "smallint",
    "DecimalField": "numeric",
    "FloatField": "double precision",
}


def sql_type(model_field: Field) -> str:
    return _SQL_TYPES[model_field.get_internal_type()]
