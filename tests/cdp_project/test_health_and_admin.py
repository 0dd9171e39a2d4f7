from __future__ import annotations

import pytest

from cdp_project.celery import app as celery_app
from cdp_project.heartbeats import SCHEDULER, WORKER, heartbeat_record
from ingestion import services
from ingestion.models import Event
from tests.conftest import _use_broker

pytestmark = pytest.mark.django_db


def test_health_reports_database_broker_and_backlog(client, ingest):
    heartbeat_record(name=SCHEDULER)
    heartbeat_record(name=WORKER)
    ingest("track", {"userId": "u", "event": "E"})
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "backlog": 1}
    assert body["broker"]["ok"] is True


def test_health_is_degraded_but_up_when_the_broker_is_down(client):
    previous = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    _use_broker("redis://127.0.0.1:1/0", {"socket_connect_timeout": 1, "max_retries": 0})
    try:
        response = client.get("/health/")
    finally:
        _use_broker(*previous)
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["broker"]["ok"] is False


def test_openapi_schema_describes_every_endpoint(client):
    response = client.get("/api/schema/", headers={"Accept": "application/json"})
    assert response.status_code == 200
    schema = response.json()
    for name in ("track", "identify", "page", "screen", "group", "alias", "batch"):
        assert f"/v1/{name}" in schema["paths"]
    assert schema["components"]["securitySchemes"]["writeKey"]["scheme"] == "basic"


def test_api_docs_are_served_without_a_cdn(client):
    body = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in body
    assert "cdn.jsdelivr" not in body and "unpkg.com" not in body


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_api_docs_lead_back_to_the_app(client, url):
    body = client.get(url).content.decode()
    bar = body[body.index('<header class="docs-bar">') : body.index("</header>")]
    assert '<a class="docs-home" href="/">' in bar and "Back to CDP" in bar
    assert 'href="/api/docs/"' in bar and 'href="/api/redoc/"' in bar
    assert 'href="/sources/"' in bar


@pytest.mark.parametrize(
    "model",
    [
        "ingestion/source",
        "ingestion/writekey",
        "ingestion/event",
        "ingestion/messagekey",
        "ingestion/refusal",
        "ingestion/activity",
        "ingestion/activityproperty",
        "ingestion/profileattribute",
        "ingestion/product",
        "profiles/profile",
        "profiles/identity",
        "profiles/profilemerge",
        "profiles/order",
        "profiles/consentchange",
    ],
)
def test_admin_lists_and_forms_render(admin_client, ingest, model):
    ingest("batch", {"batch": [{"type": "track", "userId": "u", "event": "E"}, {"type": "x"}]})
    ingest("identify", {"userId": "u", "traits": {"email": "u@example.com"}})
    ingest("track", {"userId": "u", "event": "E", "properties": {"sku": "S", "price": 1}})
    ingest("page", {"anonymousId": "a"})
    ingest("identify", {"anonymousId": "a", "userId": "u"})  # a merge
    ingest(
        "batch",
        {
            "batch": [
                {"type": "identify", "userId": "u", "traits": {"email_opt_in": True}},
                {
                    "type": "track",
                    "userId": "u",
                    "event": "Order Completed",
                    "properties": {"order_id": "A", "total": 5},
                },
            ]
        },
    )
    services.events_process(event_ids=list(Event.objects.values_list("pk", flat=True)))
    changelist = admin_client.get(f"/admin/{model}/")
    assert changelist.status_code == 200
    add_or_change = admin_client.get(f"/admin/{model}/add/")
    # Merge records are made by identity resolution only.
    assert add_or_change.status_code == (403 if model == "profiles/profilemerge" else 200)
    first = changelist.context["cl"].result_list[0]
    assert admin_client.get(f"/admin/{model}/{first.pk}/change/").status_code == 200


def test_admin_event_list_does_not_count_the_whole_table(
    admin_client, ingest, django_assert_max_num_queries
):
    ingest("batch", {"batch": [{"type": "track", "userId": "u", "event": "E"}] * 3})
    response = admin_client.get("/admin/ingestion/event/?q=u")
    assert response.status_code == 200
    assert Event.objects.count() == 3
    assert "3 events" in response.content.decode() or "3 results" in response.content.decode()


def test_source_created_in_admin_gets_a_write_key(admin_client):
    response = admin_client.post(
        "/admin/ingestion/source/add/",
        {
            "name": "Admin-made",
            "kind": "web",
            "enabled": "on",
            "allowed_origins": "[]",
            "created_at_0": "2026-11-25",
            "created_at_1": "10:00:00",
            "write_keys-TOTAL_FORMS": "0",
            "write_keys-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    from ingestion.models import Source

    assert Source.objects.get(name="Admin-made").write_keys.count() == 1


def test_admin_shows_notes_suppressions_and_deletion_records(admin_client, ingest):
    from profiles.models import Profile, ProfileDeletion, ProfileNote, SuppressedIdentity

    ingest("identify", {"userId": "u", "traits": {"name": "Ada"}})
    profile = Profile.objects.get()
    ProfileNote.objects.create(profile=profile, body="Called about a late parcel")
    SuppressedIdentity.objects.create(namespace="user_id", value_hash="ab" * 32)
    ProfileDeletion.objects.create(profile_id=999, events_deleted=3)
    for model in ("profilenote", "suppressedidentity", "profiledeletion"):
        changelist = admin_client.get(f"/admin/profiles/{model}/")
        assert changelist.status_code == 200
        first = changelist.context["cl"].result_list[0]
        assert admin_client.get(f"/admin/profiles/{model}/{first.pk}/change/").status_code == 200
    assert admin_client.get("/admin/profiles/profilenote/add/").status_code == 200
    assert admin_client.get("/admin/profiles/profiledeletion/add/").status_code == 403
    # People are deleted on their profile page, where every copy of their values goes too.
    assert admin_client.get(f"/admin/profiles/profile/{profile.pk}/delete/").status_code == 403
    note_page = admin_client.get(f"/admin/profiles/profile/{profile.pk}/change/")
    assert "Called about a late parcel" in note_page.content.decode()
