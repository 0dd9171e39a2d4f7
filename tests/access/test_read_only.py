"""A read-only marketer sees every page and changes nothing; every change needs CSRF."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from cdp_project.access.actors import Actor
from cdp_project.access.models import AuditEntry
from tests.access.conftest import Store, snapshot, url_patterns
from tests.access.test_login_required import _is_public

pytestmark = pytest.mark.django_db


def _urls(store: Store) -> list[str]:
    """Every marketer URL, with the store's real objects as arguments (not the user's own
    account pages: a read-only user may change their own password)."""
    by_prefix = {
        "/sources/": store.source.pk,
        "/profiles/": store.profile.pk,
        "/segments/": store.segment.pk,
        "/campaigns/": store.campaign.pk,
        "/activities/attributes/": store.attribute.pk,
        "/activities/": store.activity.pk,
    }
    others = {
        "key_pk": store.key.pk,
        "property_pk": store.property.pk,
        "profile_pk": store.profile.pk,
        # A journey's step (the journey URLs are also walked with a journey's own id in
        # test_a_read_only_marketer_reads_a_journey_and_changes_nothing).
        "step": "email",
    }
    urls = []
    for route, _name in url_patterns():
        if _is_public(route) or route.startswith("/accounts/"):
            continue

        def fill(match: re.Match[str], route: str = route) -> str:
            name = match.group(1)
            if name in others:
                return str(others[name])
            assert name == "pk", f"{route}: say which object <{name}> is in this test"
            prefix = next(p for p in by_prefix if route.startswith(p))
            return str(by_prefix[prefix])

        urls.append(re.sub(r"<(?:\w+:)?(\w+)>", fill, route))
    return sorted(set(urls))


# Form data that each change would accept from a user allowed to make it.
FORMS = {
    "name": "Changed",
    "kind": "server",
    "enabled": "on",
    "label": "Another",
    "body": "A note",
    "channel": "email",
    "state": "withdrawn",
    "status": "paused",
    "display_name": "Changed",
    "action": "save",
    "days": "7",
    "address": "me@example.com",
    "suppress": "on",
    "confirm": "on",
}


def _reads_only(store: Store) -> set[str]:
    """The POSTs that change nothing, open to read-only users: the builder's live count and a
    campaign's dry run (which rolls back)."""
    return {"/segments/preview/", f"/campaigns/{store.campaign.pk}/dry-run/"}


def test_a_read_only_marketer_can_change_nothing(client: Client, store: Store, viewer):
    client.force_login(viewer)
    before, entries_before = snapshot(), AuditEntry.objects.count()
    urls = _urls(store)
    assert len(urls) > 25
    reads_only = _reads_only(store)
    assert reads_only <= set(urls)
    for url in urls:
        for method in ("post", "put", "patch", "delete"):
            response = getattr(client, method)(url, FORMS)
            if url in reads_only:
                assert response.status_code != 403, f"{method.upper()} {url}"
            else:
                assert response.status_code == 403, f"{method.upper()} {url}"
    assert snapshot() == before
    assert AuditEntry.objects.count() == entries_before


def test_a_read_only_marketer_can_dry_run_a_campaign(client: Client, store: Store, viewer):
    client.force_login(viewer)
    before = snapshot()
    page = client.get(f"/campaigns/{store.campaign.pk}/").content.decode()
    assert 'id="dry-run-section"' in page
    response = client.post(f"/campaigns/{store.campaign.pk}/dry-run/", {"days": "7"})
    assert response.status_code == 200
    assert snapshot() == before


def test_a_read_only_marketer_sees_every_page_without_change_buttons(
    client: Client, store: Store, viewer
):
    client.force_login(viewer)
    pages = {
        "/sources/": [">Create source<"],
        f"/sources/{store.source.pk}/": ["Create a new key", ">Revoke<", "Save settings"],
        f"/profiles/{store.profile.pk}/": [
            "Delete profile",
            "Export data",
            ">Add note<",
            ">Record<",
        ],
        "/profiles/": ["Import profiles"],
        "/segments/": ["New segment"],
        f"/segments/{store.segment.pk}/": [">Duplicate<", "Delete…", ">Refresh now<", ">Edit<"],
        f"/campaigns/{store.campaign.pk}/": [">Activate<", ">Edit<", ">Send a test<"],
        f"/activities/{store.activity.pk}/": [">Save</button>", "<summary>Edit"],
        "/activities/products/": ["Import a CSV"],
    }
    for url, hidden in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for text in hidden:
            assert text not in html, f"{url} shows {text!r}"
    # The settings stay readable, in disabled fields.
    html = client.get(f"/sources/{store.source.pk}/").content.decode()
    assert '<fieldset class="plain" disabled>' in html and store.source.name in html


def test_a_read_only_marketer_reads_a_journey_and_changes_nothing(
    client: Client, store: Store, viewer, marketer
):
    from campaigns.journeys.services import journey_create, journey_publish

    journey = journey_create(actor=Actor.for_user(marketer), name="Shoes", template="blank")
    journey_publish(actor=Actor.for_user(marketer), campaign=journey)
    client.force_login(viewer)
    editor = f"/campaigns/{journey.pk}/journey/"
    html = client.get(editor).content.decode()
    assert "Send the email “Hello”" in html and "Version" in html
    for hidden in (
        "Publish the draft",
        ">Activate<",
        ">Remove<",
        "Add a step",
        "Edit the trigger",
        "Save the settings",
        "New journey",
    ):
        assert hidden not in html, hidden
    assert '<fieldset class="plain" disabled>' in html  # the settings, readable
    assert "New journey" not in client.get("/campaigns/").content.decode()
    before, entries = snapshot(), AuditEntry.objects.count()
    for tail in (
        "trigger/",
        "steps/add/",
        "steps/email/",
        "steps/email/remove/",
        "steps/email/move/",
        "settings/",
        "publish/",
        "move/",
    ):
        assert client.post(editor + tail, {"type": "wait", "direction": "up"}).status_code == 403
    assert (
        client.post("/campaigns/journeys/new/", {"name": "X", "template": "blank"}).status_code
        == 403
    )
    assert snapshot() == before and AuditEntry.objects.count() == entries
    client.force_login(marketer)
    html = client.get(editor).content.decode()
    assert "Publish the draft" in html and "Add a step" in html


def test_a_read_only_marketer_sees_no_write_key(client: Client, store: Store, viewer):
    client.force_login(viewer)
    for url in (
        "/sources/",
        f"/sources/{store.source.pk}/",
        f"/activities/{store.activity.pk}/",
        f"/sources/{store.source.pk}/debugger/",
    ):
        html = client.get(url).content.decode()
        assert store.key.key not in html, url
    assert "YOUR_WRITE_KEY" in client.get(f"/sources/{store.source.pk}/").content.decode()


def test_the_same_pages_show_the_change_buttons_to_a_marketer(
    client: Client, store: Store, marketer
):
    client.force_login(marketer)
    html = client.get(f"/profiles/{store.profile.pk}/").content.decode()
    assert "Delete profile" in html and "Add note" in html
    html = client.get(f"/segments/{store.segment.pk}/").content.decode()
    assert "Duplicate" in html and "Refresh now" in html
    html = client.get(f"/sources/{store.source.pk}/").content.decode()
    assert "Create a new key" in html and "disabled>" not in html
    assert store.key.key in html


@pytest.mark.parametrize(
    "name,args",
    [
        ("segment-new", []),
        ("segment-edit", ["segment"]),
        ("segment-delete", ["segment"]),
        ("campaign-edit", ["campaign"]),
        ("profile-import", []),
        ("profile-export", ["profile"]),
        ("profile-delete", ["profile"]),
    ],
)
def test_pages_only_for_changing_are_refused_to_a_read_only_marketer(
    client: Client, store: Store, viewer, marketer, name, args
):
    url = reverse(name, args=[getattr(store, arg).pk for arg in args])
    client.force_login(viewer)
    assert client.get(url).status_code == 403
    client.force_login(marketer)
    assert client.get(url).status_code == 200


def test_a_read_only_marketer_may_still_log_out_and_change_their_password(client: Client, viewer):
    client.force_login(viewer)
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": "Viewer-pass-42",
            "new_password1": "Another-pass-43",
            "new_password2": "Another-pass-43",
        },
    )
    assert response.status_code == 302
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_a_superuser_in_the_group_is_not_read_only(client: Client, store: Store, viewer):
    viewer.is_superuser = True
    viewer.save()
    client.force_login(viewer)
    assert client.get(reverse("segment-new")).status_code == 200


def test_every_change_needs_the_csrf_token(store: Store, marketer):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(marketer)
    before = snapshot()
    for url in _urls(store):
        response = browser.post(url, FORMS)
        assert response.status_code == 403, f"POST {url}"
        assert b"CSRF" in response.content, f"POST {url}"
    assert snapshot() == before
