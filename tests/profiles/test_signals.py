"""What profiles does when the apps below it tell of a change."""

from __future__ import annotations

import pytest

from cdp_project.access.actors import Actor
from cdp_project.celery import app as celery_app
from cdp_project.core import publish
from ingestion.catalog.services import activity_update
from ingestion.models import Activity

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, list]]:
    monkeypatch.setattr(publish, "_broker_skip_until", 0.0)
    messages: list[tuple[str, list]] = []
    monkeypatch.setattr(
        celery_app, "send_task", lambda name, args=None, **options: messages.append((name, args))
    )
    return messages


def _update(activity: Activity, points: float | None) -> None:
    activity_update(
        actor=Actor.system("test"),
        activity=activity,
        display_name=activity.display_name,
        description=activity.description,
        role=activity.role,
        status=activity.status,
        engagement_points=points,
    )


def test_new_engagement_points_rescore_the_activitys_people_once_saved(
    sent, django_capture_on_commit_callbacks
):
    activity = Activity.objects.create(kind="track", name="Wishlist Added")
    with django_capture_on_commit_callbacks(execute=True):
        _update(activity, 5.0)
        assert sent == []  # not before the change commits
    assert sent == [("profiles.engagement_points_changed", [[activity.pk]])]


def test_unchanged_points_rescore_nobody(sent, django_capture_on_commit_callbacks):
    activity = Activity.objects.create(kind="track", name="Wishlist Added", engagement_points=5)
    with django_capture_on_commit_callbacks(execute=True):
        _update(activity, 5.0)
    assert sent == []
