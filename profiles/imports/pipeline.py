"""Storing an import's messages through ingest, a chunk at a time, and processing them at
once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ingestion.messages import BatchContext
from ingestion.models import Event, Source
from ingestion.services import events_ingest, events_process
from profiles.imports.report import ImportReport
from profiles.imports.values import EARLIEST
from profiles.rights import identities_suppressed

IMPORT_SOURCE_NAME = "CSV import"
LIBRARY = {"name": "csv-import", "version": "1"}
# Messages stored and processed per transaction: big enough to amortise the per-batch
# queries, small enough that a worker never holds many rows locked.
CHUNK_MESSAGES = 500


def import_source() -> Source:
    """The source imports are stored on, made on first use. It has no write key: nobody can
    send into the import's de-duplication space over the API."""
    try:
        return Source.objects.get(name=IMPORT_SOURCE_NAME)
    except Source.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return Source.objects.create(name=IMPORT_SOURCE_NAME, kind=Source.Kind.SERVER)
    except IntegrityError:  # made by a concurrent import
        return Source.objects.get(name=IMPORT_SOURCE_NAME)


@dataclass
class Record:
    """One profile row, or one order's rows, and the messages made from it."""

    lines: list[int]
    messages: list[dict[str, Any]]
    # The messages whose storing means the record was imported (not the customer identify
    # that several orders share).
    counted: set[str] = field(default_factory=set)
    # Ids the record is about that its messages may not carry (an order's customer email,
    # whose identify another record of the file sends): checked against suppression.
    ids: set[tuple[str, str]] = field(default_factory=set)


class Pipeline:
    """Collects records and sends their messages through ingest in chunks; a record's
    messages always travel in one chunk, so its outcome is known at once."""

    def __init__(self, report: ImportReport, on_progress: Callable[[int], None] | None) -> None:
        self.report = report
        self.source = import_source()
        self.pending: list[Record] = []
        self.size = 0
        self.sent: set[str] = set()  # shared messages already sent by this import
        self.on_progress = on_progress

    def add(self, record: Record) -> None:
        if self.size + len(record.messages) > CHUNK_MESSAGES:
            self.flush()
        self.pending.append(record)
        self.size += len(record.messages)

    def shared(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """A message several records would repeat (one customer's identify): sent once."""
        if message["messageId"] in self.sent:
            return []
        self.sent.add(message["messageId"])
        return [message]

    def _refuse_suppressed(self) -> None:
        """Refuse whole records of people deleted with their ids suppressed: an order known
        by its email carries the email in its customer identify only, so ingest alone would
        refuse the identify and store the order under a new, nameless profile."""
        keys = {id(record): _record_ids(record) for record in self.pending}
        suppressed = identities_suppressed({key for ids in keys.values() for key in ids})
        if not suppressed:
            return
        kept = []
        for record in self.pending:
            if suppressed.isdisjoint(keys[id(record)]):
                kept.append(record)
                continue
            for line in record.lines:
                self.report.refuse(
                    line,
                    "This person was deleted and their ids are suppressed; nothing of them "
                    "is imported.",
                )
        self.pending = kept

    def flush(self) -> None:
        self._refuse_suppressed()
        if not self.pending:
            self.size = 0
            return
        messages = [message for record in self.pending for message in record.messages]
        now = timezone.now()
        # Imports carry history: the ingest rule that clamps events older than
        # INGEST_PAST_LIMIT is widened back to 1970 for them, and for nothing else.
        batch = BatchContext(received_at=now, past_limit=now - EARLIEST + timedelta(days=1))
        result = events_ingest(source=self.source, messages=messages, batch=batch)
        stored = set(
            Event.objects.filter(pk__in=result.event_ids).values_list("message_id", flat=True)
        )
        refused = {item.index: item for item in result.refused}
        claimed: set[str] = set()  # a row repeated in one chunk is imported once
        index = 0
        for record in self.pending:
            reasons = []
            for _ in record.messages:
                if index in refused:
                    reasons.append(refused[index].message)
                index += 1
            if reasons:
                for line in record.lines:
                    self.report.refuse(line, " ".join(dict.fromkeys(reasons)))
            elif (record.counted & stored) - claimed:
                claimed |= record.counted & stored
                self.report.imported += 1
                self.report.imported_lines.add(record.lines)
            else:
                self.report.unchanged += 1
                self.report.unchanged_lines.add(record.lines)
        self.report.events += len(result.event_ids)
        for start in range(0, len(result.event_ids), CHUNK_MESSAGES):
            # Processed now, not by a worker later: when the import returns, the profiles,
            # their orders and consent are up to date.
            events_process(event_ids=result.event_ids[start : start + CHUNK_MESSAGES])
        self.pending, self.size = [], 0
        if self.on_progress:
            self.on_progress(self.report.rows)


def message_context() -> dict[str, Any]:
    return {"library": dict(LIBRARY)}


def _record_ids(record: Record) -> set[tuple[str, str]]:
    ids = set(record.ids)
    for message in record.messages:
        if message.get("userId"):
            ids.add(("user_id", str(message["userId"])))
        if message.get("anonymousId"):
            ids.add(("anonymous_id", str(message["anonymousId"])))
        email = (message.get("traits") or {}).get("email")
        if isinstance(email, str) and "@" in email:
            ids.add(("email", email.strip().lower()))
    return ids
