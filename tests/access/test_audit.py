"""The audit log: who changed what, when and from where, with the change or not at all."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.test import Client
from django.urls import reverse

from campaigns.models import Campaign
from cdp_project.access.models import AuditEntry
from ingestion.models import Source, WriteKey
from profiles.models import Profile
from segments.models import Segment
from tests.access.conftest import Store

pytestmark = pytest.mark.django_db


_setup = {"last_pk": 0}


@pytest.fixture(autouse=True)
def _setup_logged(store: Store) -> None:
    """The store's setup (a segment saved by its owner, sources) is logged too: the tests
    read the entries written after it."""
    _setup["last_pk"] = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def logged():
    return AuditEntry.objects.filter(pk__gt=_setup["last_pk"])


def entries() -> list[tuple[str, str, str]]:
    return [(e.actor_name, e.action, e.object_type) for e in logged().order_by("pk")]


def last() -> AuditEntry:
    return logged().order_by("-pk").first()


@pytest.fixture
def signed_in(client: Client, marketer) -> Client:
    client.force_login(marketer)
    return client


def test_sources_and_keys_are_audited(signed_in: Client, store: Store):
    response = signed_in.post(
        reverse("source-new"), {"name": "App", "kind": "mobile"}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 302
    source = Source.objects.get(name="App")
    entry = last()
    assert (entry.actor_name, entry.action, entry.object_id) == (
        "marketer",
        "source.create",
        str(source.pk),
    )
    assert (
        entry.ip == "203.0.113.9" and "App" in entry.summary and entry.actor.username == "marketer"
    )

    signed_in.post(
        reverse("source-detail", args=[source.pk]),
        {"name": "App", "kind": "mobile", "enabled": "", "allowed_origins": ""},
    )
    assert last().action == "source.update" and "enabled: False" in last().summary
    signed_in.post(reverse("source-key-create", args=[source.pk]), {"label": "Second"})
    key = source.write_keys.order_by("-pk").first()
    assert (last().action, last().object_type, last().object_id) == (
        "write_key.create",
        "writekey",
        str(key.pk),
    )
    assert key.key not in last().summary  # a prefix only: the log is no place for secrets
    signed_in.post(reverse("source-key-revoke", args=[source.pk, key.pk]))
    assert last().action == "write_key.revoke"
    assert WriteKey.objects.get(pk=key.pk).revoked_at is not None


def test_segments_are_audited(signed_in: Client, store: Store):
    response = signed_in.post(
        reverse("segment-new"),
        {"name": "Shoppers", "description": "", "action": "save", "match": "all"},
    )
    assert response.status_code == 302, response.content.decode()[:500]
    segment = Segment.objects.get(name="Shoppers")
    assert (last().action, last().object_id) == ("segment.create", str(segment.pk))
    signed_in.post(
        reverse("segment-edit", args=[segment.pk]),
        {"name": "Buyers", "description": "", "action": "save", "match": "all"},
    )
    assert last().action == "segment.update" and "Buyers" in last().summary
    signed_in.post(reverse("segment-duplicate", args=[segment.pk]))
    assert last().action == "segment.create" and "Copied" in last().summary
    signed_in.post(reverse("segment-delete", args=[segment.pk]))
    assert (last().action, last().object_id) == ("segment.delete", str(segment.pk))
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_campaign_status_is_audited(signed_in: Client, store: Store):
    campaign = store.campaign
    signed_in.post(reverse("campaign-status", args=[campaign.pk]), {"status": "paused"})
    assert Campaign.objects.get(pk=campaign.pk).status == "paused"
    assert (last().action, last().object_id) == ("campaign.status", str(campaign.pk))
    assert "paused" in last().summary


def test_profile_consent_export_and_delete_are_audited(signed_in: Client, store: Store):
    profile = store.profile
    signed_in.post(
        reverse("profile-consent-set", args=[profile.pk]),
        {"channel": "email", "state": "withdrawn", "how": "Asked by phone"},
    )
    assert last().action == "profile.consent" and "Asked by phone" in last().summary
    response = signed_in.get(reverse("profile-export", args=[profile.pk]))
    b"".join(response.streaming_content)
    assert (last().action, last().object_id) == ("profile.export", str(profile.pk))
    signed_in.post(reverse("profile-delete", args=[profile.pk]), {"confirm": "on"})
    assert not Profile.objects.filter(pk=profile.pk).exists()
    assert (last().action, last().object_id) == ("profile.delete", str(profile.pk))
    assert [a for _, a, _ in entries()] == ["profile.consent", "profile.export", "profile.delete"]


def test_a_refused_change_leaves_no_entry(signed_in: Client, store: Store):
    # An invalid form changes nothing and records nothing.
    signed_in.post(reverse("source-new"), {"name": "", "kind": "mobile"})
    signed_in.post(reverse("campaign-status", args=[store.campaign.pk]), {"status": "bogus"})
    assert not logged().exists()


def test_a_change_whose_entry_fails_is_rolled_back(signed_in: Client, store: Store, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the audit log cannot be written")

    monkeypatch.setattr("ingestion.services.audit_write", broken)
    with pytest.raises(RuntimeError):
        signed_in.post(reverse("source-key-create", args=[store.source.pk]), {"label": "x"})
    # The key was created in the transaction of the failed entry, and rolled back with it.
    assert store.source.write_keys.count() == 1


def test_the_log_is_read_only_in_admin(client: Client, django_user_model, store: Store):
    admin_user = django_user_model.objects.create_superuser("root", password="x")
    client.force_login(admin_user)
    client.post(reverse("campaign-status", args=[store.campaign.pk]), {"status": "paused"})
    entry = last()
    model_admin = site._registry[AuditEntry]
    request = type("R", (), {"user": admin_user})()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    listing = client.get("/admin/access/auditentry/")
    assert listing.status_code == 200 and b"campaign.status" in listing.content
    page = client.get(f"/admin/access/auditentry/{entry.pk}/change/")
    assert page.status_code == 200 and b'name="summary"' not in page.content
    assert client.post(f"/admin/access/auditentry/{entry.pk}/delete/").status_code == 403
