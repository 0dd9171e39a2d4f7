"""CSV imports of customers and their past orders, through the ingest pipeline.

Nothing is written to profiles directly: each row becomes Segment-spec messages (an
`identify` for a customer; `Order Completed`, `Order Refunded`, `Order Cancelled` for an
order) stored by `ingestion.services.events_ingest` on the "CSV import" source and then
processed at once, so identity stitching, the catalog and computed attributes treat an
imported customer exactly like one who arrived through the API.

Re-importing is safe: every message id is derived from what the row says (a customer row's
content; an order's id), and ingest stores a message id once per source, so the same file
imported twice changes nothing. docs/profiles.md ("Imports") gives the formats and rules.

- `files`: reading the file, checked whole before any row is imported;
- `values`: the cells of a row, each refused with its reason;
- `customers`, `orders`: rows into messages;
- `pipeline`: the messages through ingest and processing, a chunk at a time;
- `report`: what the import did, by line.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import BinaryIO

from django.db import transaction

from cdp_project.access.actors import Actor
from cdp_project.access.audit import audit_write, batched_action
from profiles.imports.customers import PROFILE_SAMPLE_HEADER, profiles_import_csv
from profiles.imports.files import check_size
from profiles.imports.orders import ORDER_SAMPLE_HEADER, orders_import_csv
from profiles.imports.pipeline import IMPORT_SOURCE_NAME, import_source
from profiles.imports.report import ImportRefused, ImportReport
from profiles.imports.values import anonymous_id_for_email

IMPORTERS: dict[str, Callable[..., ImportReport]] = {
    "profiles": profiles_import_csv,
    "orders": orders_import_csv,
}


@batched_action
def csv_import(
    *,
    actor: Actor,
    kind: str,
    data: bytes | BinaryIO,
    max_bytes: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    file_name: str = "",
) -> ImportReport:
    """Import a CSV of `kind` ("profiles" or "orders") from bytes or a binary file, a chunk
    per transaction; then record the import, with its counts, in the audit log."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    report = IMPORTERS[kind](data=stream, max_bytes=max_bytes, on_progress=on_progress)
    with transaction.atomic(durable=True):
        audit_write(
            actor=actor,
            action="profile.import",
            object_type="import",
            object_id=kind,
            summary=f"Imported {kind}"
            + (f" from {file_name[:100]}" if file_name else "")
            + f": {report.imported:,} imported, {report.unchanged:,} unchanged, "
            f"{report.refused_count:,} refused",
        )
    return report


__all__ = [
    "IMPORT_SOURCE_NAME",
    "ORDER_SAMPLE_HEADER",
    "PROFILE_SAMPLE_HEADER",
    "ImportRefused",
    "ImportReport",
    "anonymous_id_for_email",
    "check_size",
    "csv_import",
    "import_source",
    "orders_import_csv",
    "profiles_import_csv",
]
