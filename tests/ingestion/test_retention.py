"""Retention of events: old events and their de-duplication keys go, nightly."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from ingestion import retention, services
from ingestion.messages import BatchContext
from ingestion.models import Event, MessageKey
from ingestion.tasks import apply_event_retention
from profiles.models import Profile


def test_retention_deletes_only_events_older_than_the_setting(source):
    now = timezone.now()
    old, recent = now - timedelta(days=40), now - timedelta(days=10)
    for i, at in enumerate([old, recent, old, recent, old]):
        services.events_ingest(
            source=source,
            messages=[
                {
                    "type": "track",
                    "event": "E",
                    "userId": "u1",
                    "messageId": f"m{i}",
                    "timestamp": at.isoformat(),
                }
            ],
            batch=BatchContext(received_at=at + timedelta(seconds=1)),
        )
    assert Event.objects.count() == 5

    with override_settings(EVENT_RETENTION_DAYS=0):
        assert apply_event_retention() == 0
    assert Event.objects.count() == 5

    with override_settings(EVENT_RETENTION_DAYS=30):
        deleted = retention.events_retention_apply(batch_size=2)
    assert deleted == 3
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["m1", "m3"]
    # The de-duplication keys of messages received before the cutoff go too.
    assert sorted(MessageKey.objects.values_list("message_id", flat=True)) == ["m1", "m3"]
    assert Profile.objects.filter(user_id="u1").exists()


def test_retention_runs_nightly_from_celery_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["ingestion-event-retention"]
    assert entry["task"] == "ingestion.apply_event_retention"
    assert apply_event_retention.name == "ingestion.apply_event_retention"
