"""Reads for ingestion."""

from __future__ import annotations

from django.db.models import QuerySet

from ingestion.models import Event, Refusal, Source, WriteKey


def source_for_write_key(*, key: str) -> Source | None:
    """The enabled source an active key writes to, or None."""
    write_key = (
        WriteKey.objects.select_related("source")
        .filter(key=key, revoked_at__isnull=True, source__enabled=True)
        .first()
    )
    return write_key.source if write_key else None


def source_active_write_key(*, source: Source) -> WriteKey | None:
    return source.write_keys.filter(revoked_at__isnull=True).order_by("-created_at").first()


def source_latest_events(
    *, source: Source, after_id: int | None = None, limit: int = 50
) -> QuerySet[Event]:
    """The newest events first; served by the (source, id) index."""
    events = Event.objects.filter(source=source)
    if after_id is not None:
        events = events.filter(pk__gt=after_id)
    return events.order_by("-pk")[:limit]


def source_latest_refusals(
    *, source: Source, after_id: int | None = None, limit: int = 50
) -> QuerySet[Refusal]:
    refusals = Refusal.objects.filter(source=source)
    if after_id is not None:
        refusals = refusals.filter(pk__gt=after_id)
    return refusals.order_by("-pk")[:limit]


BACKLOG_COUNT_LIMIT = 100_000


def events_backlog() -> int:
    """Events stored but not yet processed, counted up to `BACKLOG_COUNT_LIMIT` (served
    by the partial `event_unprocessed` index, which holds only those rows); a result equal
    to the limit means "at least"."""
    pending = Event.objects.filter(processed_at__isnull=True).values("pk")
    return pending[:BACKLOG_COUNT_LIMIT].count()


def ingest_overview() -> dict[str, object]:
    """What the dashboard shows before the analytics exist: cheap reads only (no full
    counts of the events table)."""
    latest = Event.objects.order_by("-pk").only("received_at", "source").first()
    backlog = events_backlog()
    return {
        "sources": Source.objects.count(),
        "enabled_sources": Source.objects.filter(enabled=True).count(),
        "latest_event": latest,
        "backlog": backlog,
        "backlog_capped": backlog >= BACKLOG_COUNT_LIMIT,
        "recent_refusals": Refusal.objects.order_by("-pk").select_related("source")[:5],
    }
