"""What campaigns do when other apps change people and segments."""

from __future__ import annotations

from typing import Any

from django.db.models import ProtectedError

from campaigns.engine import enrollments_merge
from campaigns.journeys.definition import JourneyError, journey_parse, journey_segments
from campaigns.models import Campaign
from segments.models import Segment

__all__ = ["enrollments_merge", "segment_delete_guard"]


def journeys_naming(segment_id: int) -> list[Campaign]:
    """The journeys whose live version names a segment: as trigger, broadcast or in a
    condition split."""
    found = []
    for campaign in Campaign.objects.filter(
        kind=Campaign.Kind.JOURNEY, version__isnull=False
    ).select_related("version"):
        assert campaign.version is not None
        try:
            journey = journey_parse(campaign.version.definition)
        except JourneyError:
            continue
        named = journey_segments(journey)
        if segment_id in named:
            found.append(campaign)
    return found


def segment_delete_guard(sender: Any, instance: Segment, **kwargs: Any) -> None:
    """Receiver of `pre_delete` for segments: a segment a journey runs on is kept, as a
    campaign's audience is (segments.services.segment_delete tells the marketer which)."""
    journeys = journeys_naming(instance.pk)
    if journeys:
        raise ProtectedError(
            f"Segment #{instance.pk} is used by {len(journeys)} journey(s).", set(journeys)
        )
