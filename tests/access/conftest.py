"""A small store with one of everything a marketer can see or change, and the users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver

from campaigns.defaults import campaigns_setup
from campaigns.models import Campaign
from cdp_project.access.actors import Actor
from cdp_project.access.roles import READ_ONLY_GROUP
from ingestion.models import Activity, ActivityProperty, ProfileAttribute, Source, WriteKey
from profiles.models import Profile
from segments import services as segment_services
from segments.definition import empty_group
from segments.models import Segment
from tests.conftest import process_stored


@dataclass
class Store:
    source: Source
    key: WriteKey
    profile: Profile
    segment: Segment
    campaign: Campaign
    activity: Activity
    property: ActivityProperty
    attribute: ProfileAttribute


@pytest.fixture
def store(ingest, write_key, django_user_model) -> Store:
    ingest(
        "batch",
        {
            "batch": [
                {"type": "identify", "userId": "ada", "traits": {"email": "ada@example.com"}},
                {
                    "type": "track",
                    "userId": "ada",
                    "event": "Product Viewed",
                    "properties": {"sku": "SKU-1", "price": 10},
                },
            ]
        },
    )
    process_stored()
    campaigns_setup()
    owner = django_user_model.objects.create_user("owner", password="x")
    segment = segment_services.segment_create(
        actor=Actor.for_user(owner), name="Everyone", definition=empty_group()
    )
    activity = Activity.objects.get(name="Product Viewed")
    return Store(
        source=write_key.source,
        key=write_key,
        profile=Profile.objects.get(user_id="ada"),
        segment=segment,
        campaign=Campaign.objects.order_by("pk").first(),
        activity=activity,
        property=activity.properties.order_by("pk").first(),
        attribute=ProfileAttribute.objects.order_by("pk").first(),
    )


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", password="Marketer-pass-42")


@pytest.fixture
def viewer(django_user_model):
    """A user in the "Read-only marketer" group (the migration creates it; flushes remove it)."""
    user = django_user_model.objects.create_user("viewer", password="Viewer-pass-42")
    group, _ = Group.objects.get_or_create(name=READ_ONLY_GROUP)
    user.groups.add(group)
    return user


def url_patterns() -> list[tuple[str, str]]:
    """Every (route, name) of the URLconf, with the routes of included URLconfs joined."""
    found: list[tuple[str, str]] = []

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, prefix + str(entry.pattern), ns)
            elif isinstance(entry, URLPattern):
                found.append((prefix + str(entry.pattern), namespace + (entry.name or "")))

    walk(get_resolver().url_patterns, "/", "")
    return found


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of the project's own tables, to compare before and after."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for label in ("ingestion", "profiles", "segments", "campaigns", "access"):
        for model in apps.get_app_config(label).get_models():
            rows[model._meta.label] = list(model.objects.order_by("pk").values())
    return rows
