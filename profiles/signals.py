"""Signals other apps receive to keep their rows about a person right."""

from typing import Any

from django.dispatch import Signal

from cdp_project.core.publish import task_publish_on_commit

# Sent inside a merge's transaction, after the merged profile's ids, events and orders moved
# and before it is deleted, with `loser_id` and `survivor_id`: what other apps hold about the
# merged profile (segment memberships, campaign enrollments) moves to the survivor here.
profile_merged = Signal()


def engagement_rescore(sender: Any, *, activity_id: int, **kwargs: Any) -> None:
    """Receiver of the catalog's `activity_points_changed`: the people who did the activity
    are rescored by a worker once the change commits (the save stands if the broker is
    down; the log says so)."""
    task_publish_on_commit("profiles.engagement_points_changed", args=[[activity_id]])
