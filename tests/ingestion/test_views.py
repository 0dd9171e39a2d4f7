"""The Sources pages and the debugger, as full pages and as htmx fragments."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from cdp_project.access.actors import Actor
from cdp_project.heartbeats import SCHEDULER, WORKER, heartbeat_record
from ingestion import services
from ingestion.models import Event, Refusal, Source, WriteKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")


@pytest.fixture
def signed_in(client, marketer):
    client.force_login(marketer)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/sources/",
        "/activities/",
        "/activities/attributes/",
        "/activities/products/",
        "/profiles/",
        "/segments/",
        "/campaigns/",
    ],
)
def test_pages_need_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("/", "Processing backlog"),
        ("/activities/", "discovered on its own"),
        ("/activities/attributes/", "Profile attributes"),
        ("/activities/products/", "Import a CSV"),
        ("/profiles/", "Search profiles"),
        ("/segments/", "No segments yet"),
        ("/campaigns/", "Abandoned cart"),
    ],
)
def test_every_section_of_the_navigation_renders(signed_in, url, text):
    response = signed_in.get(url)
    assert response.status_code == 200
    assert text in response.content.decode()


def test_login_page_logs_in_with_the_form(client, marketer):
    response = client.post(
        "/accounts/login/", {"username": "marketer", "password": "s3cret-pass"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    assert response.context["user"] == marketer


def test_password_reset_sends_a_working_link(client, marketer):
    response = client.post("/accounts/password_reset/", {"email": "m@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/reset/" in line)
    path = link.split("testserver", 1)[1]
    form = client.get(path, follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "another-Pass-42", "new_password2": "another-Pass-42"},
        follow=True,
    )
    assert "Password changed" in done.content.decode()
    assert client.login(username="marketer", password="another-Pass-42")


def test_marketer_creates_a_source_and_gets_a_write_key(signed_in):
    response = signed_in.post(
        "/sources/new/",
        {"name": "Web shop", "kind": "web", "allowed_origins": "https://shop.example\n"},
        follow=True,
    )
    source = Source.objects.get(name="Web shop")
    assert source.kind == "web"
    assert source.allowed_origins == ["https://shop.example"]
    key = source.write_keys.get()
    page = response.content.decode()
    assert key.key in page  # in the keys table and the snippets
    assert f"-u '{key.key}:'" in page


def test_creating_a_source_with_a_taken_name_shows_the_error(signed_in, source):
    response = signed_in.post("/sources/new/", {"name": "shop", "kind": "server"})
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_invalid_origin_is_refused_with_a_message(signed_in, source):
    response = signed_in.post(
        f"/sources/{source.pk}/",
        {"name": "Shop", "kind": "web", "enabled": "on", "allowed_origins": "shop.example"},
    )
    assert response.status_code == 400
    assert "is not an origin" in response.content.decode()


def test_marketer_disables_a_source(signed_in, source):
    signed_in.post(f"/sources/{source.pk}/", {"name": "Shop", "kind": "server"})
    source.refresh_from_db()
    assert source.enabled is False


def test_marketer_rotates_and_revokes_keys(signed_in, source, write_key, ingest):
    signed_in.post(f"/sources/{source.pk}/keys/", {"label": "2026"})
    new_key = source.write_keys.get(label="2026")
    signed_in.post(f"/sources/{source.pk}/keys/{write_key.pk}/revoke/")

    write_key.refresh_from_db()
    assert write_key.revoked_at is not None
    assert ingest("track", {"userId": "u", "event": "E"}, key=write_key.key).status_code == 401
    assert ingest("track", {"userId": "u", "event": "E"}, key=new_key.key).status_code == 200


def test_revoking_another_sources_key_is_not_found(signed_in, source):
    other = services.source_create(actor=Actor.system("test"), name="Other")
    key = other.write_keys.get()
    response = signed_in.post(f"/sources/{source.pk}/keys/{key.pk}/revoke/")
    assert response.status_code == 404
    assert WriteKey.objects.get(pk=key.pk).revoked_at is None


def test_source_page_shows_the_latest_events_and_refusals(signed_in, source, ingest):
    ingest(
        "batch",
        {
            "batch": [
                {
                    "type": "track",
                    "userId": "u-7",
                    "event": "Cart Viewed",
                    "properties": {"cart_id": "C-99"},
                },
                {"type": "track", "event": "Nobody"},
            ]
        },
    )
    page = signed_in.get(f"/sources/{source.pk}/").content.decode()
    assert "Cart Viewed" in page
    assert "C-99" in page  # the payload, one click away
    assert "missing_identity" in page


def test_debugger_poll_returns_only_what_is_new_as_a_fragment(signed_in, source, ingest):
    ingest("track", {"userId": "u", "event": "Old One"})
    first = Event.objects.get()
    ingest("track", {"userId": "u", "event": "New One"})
    ingest("track", {"anonymousId": "a"})  # refused: no event name

    response = signed_in.get(
        f"/sources/{source.pk}/debugger/",
        {"events_after": first.pk, "refusals_after": 0},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert "New One" in body and "Old One" not in body
    assert 'hx-swap-oob="afterbegin:#event-rows"' in body
    assert "missing_event" in body
    newest = Event.objects.latest("pk").pk
    latest_refusal = Refusal.objects.latest("pk").pk
    assert f"events_after={newest}&amp;refusals_after={latest_refusal}" in body


def test_debugger_poll_with_nothing_new_returns_only_the_poller(signed_in, source, ingest):
    ingest("track", {"userId": "u", "event": "Seen"})
    last = Event.objects.get().pk
    response = signed_in.get(
        f"/sources/{source.pk}/debugger/",
        {"events_after": last, "refusals_after": 0},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert "Seen" not in body
    assert 'id="debugger-poller"' in body
    assert f"events_after={last}" in body


def test_debugger_full_page_renders_without_htmx(signed_in, source, ingest):
    ingest("track", {"userId": "u", "event": "Product Viewed"})
    response = signed_in.get(f"/sources/{source.pk}/debugger/")
    body = response.content.decode()
    assert "<html" in body
    assert "Live debugger" in body
    assert "Product Viewed" in body


def test_sources_list_shows_each_source_with_its_latest_event(signed_in, source, ingest):
    services.source_create(actor=Actor.system("test"), name="Quiet app", kind=Source.Kind.MOBILE)
    ingest("track", {"userId": "u", "event": "E"})
    body = signed_in.get("/sources/").content.decode()
    assert "Shop" in body and "Quiet app" in body
    assert "none yet" in body
    assert "now" in body or "ago" in body


def test_debugger_rows_summarise_identify_and_alias_calls(signed_in, source, ingest):
    ingest("identify", {"userId": "u", "traits": {"email": "ada@example.com", "plan": "pro"}})
    ingest("alias", {"userId": "u", "previousId": "anon-9"})
    body = signed_in.get(f"/sources/{source.pk}/debugger/").content.decode()
    assert "ada@example.com · 2 traits" in body
    assert "from anon-9" in body


def test_debugger_rows_name_an_unnamed_page_view_by_its_path(signed_in, source, ingest):
    ingest("page", {"userId": "u", "properties": {"path": "/shop/cart/"}})
    ingest("page", {"userId": "u", "context": {"page": {"path": "/about/"}}})
    body = signed_in.get(f"/sources/{source.pk}/debugger/").content.decode()
    assert '<span class="name muted">/shop/cart/</span>' in body
    assert '<span class="name muted">/about/</span>' in body


def test_debugger_says_in_plain_words_that_processing_runs(signed_in, source):
    heartbeat_record(name=SCHEDULER)
    heartbeat_record(name=WORKER)
    page = signed_in.get(f"/sources/{source.pk}/debugger/").content.decode()
    assert "Processing is running: the worker seen 0 s ago, the scheduler seen 0 s ago." in page


def test_debugger_says_which_part_is_down_and_what_waits_for_it(
    signed_in, source, settings, tmp_path
):
    from cdp_project.celery import app as celery_app
    from cdp_project.devtools.embedded import FILESYSTEM_BROKER_URL, filesystem_broker_options
    from tests.conftest import _use_broker

    heartbeat_record(name=SCHEDULER, now=timezone.now() - timedelta(minutes=3))
    heartbeat_record(name=WORKER)
    options = filesystem_broker_options(tmp_path / "var")
    (tmp_path / "var" / "broker" / "unreadable" / "1_x.celery.msg").write_bytes(b"")
    previous = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    _use_broker(FILESYSTEM_BROKER_URL, options)
    try:
        # The htmx poll carries the same state, swapped in out of band.
        poll = signed_in.get(
            f"/sources/{source.pk}/debugger/", headers={"HX-Request": "true"}
        ).content.decode()
    finally:
        _use_broker(*previous)
    assert 'id="stack-state"' in poll and 'hx-swap-oob="true"' in poll
    assert "Processing is running" not in poll
    assert "The scheduler (Celery beat) was last seen 3 min ago: timed work" in poll
    assert "1 broker message could not be read and was set aside" in poll
