"""Retention of events: old events and their de-duplication keys go, nightly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from cdp_project.access.actors import Actor
from cdp_project.access.models import AuditEntry
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


# --- per source ------------------------------------------------------------------------------

DAYS_OLD = (5, 20, 40)


def _store(source, tag: str, now) -> None:
    for days in DAYS_OLD:
        at = now - timedelta(days=days)
        services.events_ingest(
            source=source,
            messages=[
                {
                    "type": "track",
                    "event": "E",
                    "userId": f"{tag}-user",
                    "messageId": f"{tag}-{days}",
                    "timestamp": at.isoformat(),
                }
            ],
            batch=BatchContext(received_at=at + timedelta(seconds=1)),
        )


@pytest.fixture
def three_sources(source):
    """ "Shop" keeps 10 days, "App" follows the site's setting, "Archive" keeps for ever."""
    system = Actor.system("test")
    source.retention_days = 10
    source.save()
    app = services.source_create(actor=system, name="App", kind="mobile")
    archive = services.source_create(actor=system, name="Archive", kind="server")
    archive.retention_days = 0
    archive.save()
    now = timezone.now()
    for item, tag in ((source, "shop"), (app, "app"), (archive, "archive")):
        _store(item, tag, now)
    return {"shop": source, "app": app, "archive": archive, "now": now}


def _kept(source) -> list[str]:
    return sorted(Event.objects.filter(source=source).values_list("message_id", flat=True))


@override_settings(EVENT_RETENTION_DAYS=30)
def test_each_source_keeps_its_events_as_long_as_it_says(three_sources):
    deleted = retention.events_retention_apply(now=three_sources["now"], batch_size=2)

    assert deleted == 3
    assert _kept(three_sources["shop"]) == ["shop-5"]
    assert _kept(three_sources["app"]) == ["app-20", "app-5"]
    assert _kept(three_sources["archive"]) == ["archive-20", "archive-40", "archive-5"]
    keys = set(MessageKey.objects.values_list("message_id", flat=True))
    assert keys == {"shop-5", "app-5", "app-20", "archive-5", "archive-20", "archive-40"}
    # Each source's oldest event kept, as of the run.
    now = three_sources["now"]
    for name, days in (("shop", 5), ("app", 20), ("archive", 40)):
        item = three_sources[name]
        item.refresh_from_db()
        assert item.retention_checked_at == now
        assert abs(item.oldest_event_at - (now - timedelta(days=days))) < timedelta(minutes=1)


@pytest.mark.django_db
def test_nothing_runs_while_no_source_has_a_limit(source):
    _store(source, "shop", timezone.now())
    assert retention.events_retention_apply() == 0
    assert Event.objects.count() == 3
    source.refresh_from_db()
    assert source.retention_checked_at is None


@override_settings(EVENT_RETENTION_DAYS=30)
def test_the_sources_page_shows_how_long_each_source_keeps_events_and_the_oldest_kept(
    three_sources, client, django_user_model
):
    retention.events_retention_apply(now=three_sources["now"])
    client.force_login(django_user_model.objects.create_user("m", "m@example.com", "pw"))
    html = client.get("/sources/").content.decode()
    rows = {name: html.split(f">{name}</a>")[1].split("</tr>")[0] for name in ("Shop", "App")}
    assert "10 days" in rows["Shop"] and "(site setting)" not in rows["Shop"]
    assert "30 days" in rows["App"] and "(site setting)" in rows["App"]
    archive = html.split(">Archive</a>")[1].split("</tr>")[0]
    assert "for ever" in archive
    oldest = timezone.localtime(three_sources["now"] - timedelta(days=5))
    assert f'oldest kept: <time datetime="{oldest:%Y-%m-%d}' in rows["Shop"]
    assert f">{oldest.day} {oldest:%b %Y}</time>" in rows["Shop"]


@pytest.mark.django_db
def test_a_marketer_sets_a_sources_retention_on_its_page(source, client, django_user_model):
    client.force_login(django_user_model.objects.create_user("m", "m@example.com", "pw"))
    form = {"name": "Shop", "kind": "server", "enabled": "on", "allowed_origins": ""}
    response = client.post(f"/sources/{source.pk}/", {**form, "retention_days": "90"})
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.retention_days == 90
    entry = AuditEntry.objects.filter(action="source.update").latest("id")
    assert "events kept 90 days" in entry.summary
    assert 'value="90"' in client.get(f"/sources/{source.pk}/").content.decode()

    for bad in ("-1", "40000", "ten"):
        response = client.post(f"/sources/{source.pk}/", {**form, "retention_days": bad})
        assert response.status_code == 400
    source.refresh_from_db()
    assert source.retention_days == 90

    client.post(f"/sources/{source.pk}/", {**form, "retention_days": ""})
    source.refresh_from_db()
    assert source.retention_days is None


@pytest.mark.django_db
def test_saving_a_source_elsewhere_leaves_its_retention(source):
    source.retention_days = 7
    source.save()
    services.source_update(
        actor=Actor.system("test"),
        source=source,
        name="Shop",
        kind="server",
        enabled=True,
        allowed_origins=[],
    )
    source.refresh_from_db()
    assert source.retention_days == 7
