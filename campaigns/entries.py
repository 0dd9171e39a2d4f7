"""Entries that are not activities: joining or leaving a segment, and the people a broadcast
or a date trigger selects (campaigns/broadcasts.py).

Segment entry and exit are read from the segment's recorded entries and exits
(`segments.MembershipChange`), whoever recorded them: the check this module runs on the
people each processed batch touched (`segment_entries_detect`, within seconds of the event),
or the scheduled refresh (the safety net: entries that time alone causes, "no order for 90
days"). Each journey reads them in id order from where it stopped (`SegmentEntryCursor`), in
chunks of its own transaction, so a segment of 100,000 people entering at once enrolls in
short transactions. The ids of one segment's changes grow in commit order: every writer holds
the segment's refresh lock until it commits, so a reader never passes a change that commits
later.

The entry key of a segment entry is the recorded change (`segment:<change id>`): the entry
happened once, at its time (`trigger_at`, what waits count from), and enrolls at most once
whatever reads it twice; the journey's re-entry rule decides whether a second entry, later,
enters again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from campaigns.engine import audience_members, control_hold_out, first_due, journey_of
from campaigns.journeys.definition import Journey, JourneyError, SegmentTrigger
from campaigns.models import Campaign, Enrollment, JourneyVersion, SegmentEntryCursor
from cdp_project.core.publish import task_publish_on_commit
from ingestion.models import Event
from segments.membership import segment_membership_check
from segments.models import MembershipChange, Segment

logger = logging.getLogger(__name__)

# Changes read (and people entered) per transaction.
ENTRY_CHUNK = 2000


@dataclass(frozen=True)
class Entry:
    """One person entering a journey other than on an activity."""

    profile_id: int
    key: str
    at: datetime
    trigger: dict[str, Any]


def max_age() -> timedelta:
    return timedelta(hours=float(settings.CAMPAIGNS_MAX_EVENT_AGE_HOURS))


def entries_enroll(
    campaign: Campaign,
    journey: Journey,
    version: JourneyVersion | None,
    entries: Sequence[Entry],
    now: datetime,
) -> int:
    """Enroll these people, checked against the journey's audience and re-entry rule, in one
    statement; returns how many of the entries are enrolled now (entered before included:
    their key already holds one). Runs in the caller's transaction.

    The database keeps "once": one enrollment per key and journey (`enrollment_key_unique`),
    and per person for an only-once journey (`enrollment_once_per_person`)."""
    if not entries:
        return 0
    people = {entry.profile_id for entry in entries}
    if campaign.audience_id is not None:
        people &= audience_members(campaign, people)
    blocked: set[int] = set()
    waiting = Enrollment.objects.filter(campaign=campaign, profile_id__in=people)
    if campaign.reentry == Campaign.Reentry.WHILE_PENDING:
        blocked = set(
            waiting.filter(state=Enrollment.State.PENDING).values_list("profile_id", flat=True)
        )
    elif campaign.reentry == Campaign.Reentry.PER_DAYS:
        since = now - timedelta(days=campaign.reentry_days)
        blocked = set(waiting.filter(created_at__gt=since).values_list("profile_id", flat=True))
    once = campaign.reentry == Campaign.Reentry.ONCE
    new: list[Enrollment] = []
    for entry in entries:
        if entry.profile_id not in people or entry.profile_id in blocked:
            continue
        if campaign.reentry != Campaign.Reentry.ALWAYS:
            blocked.add(entry.profile_id)  # one entry per person per statement
        new.append(
            control_hold_out(
                Enrollment(
                    campaign=campaign,
                    version=version,
                    profile_id=entry.profile_id,
                    trigger=entry.trigger,
                    trigger_at=entry.at,
                    key=entry.key[:255],
                    once=once,
                    node=journey.start,
                    step_at=entry.at,
                    due_at=first_due(journey, entry.at, now),
                    created_at=now,
                    updated_at=now,
                ),
                campaign,
            )
        )
    if not new:
        return 0
    Enrollment.objects.bulk_create(new, ignore_conflicts=True)
    # `key <> ''` lets Postgres read the keys through the unique index that holds them.
    keys = [enrollment.key for enrollment in new]
    return Enrollment.objects.filter(campaign=campaign, key__in=keys).exclude(key="").count()


def active_journeys() -> Iterator[tuple[Campaign, Journey]]:
    """The active journeys that can run, with their live definitions."""
    campaigns = Campaign.objects.filter(
        status=Campaign.Status.ACTIVE, kind=Campaign.Kind.JOURNEY
    ).select_related("version", "audience")
    for campaign in campaigns:
        try:
            yield campaign, journey_of(campaign)
        except JourneyError:
            logger.warning("journey cannot run campaign_id=%s", campaign.pk)


def segment_journeys() -> list[tuple[Campaign, Journey, SegmentTrigger]]:
    return [
        (campaign, journey, journey.trigger)
        for campaign, journey in active_journeys()
        if isinstance(journey.trigger, SegmentTrigger)
    ]


# --- Segment entry and exit --------------------------------------------------------------------


def segment_entries_after_batch(events: Sequence[Event]) -> None:
    """An ingest processor, after `campaigns_enroll`: have the people a batch touched
    checked against the segments active journeys enter on, once it commits. A lost publish
    only delays their entry to the next scheduled refresh."""
    people = sorted({event.profile_id for event in events if event.profile_id is not None})
    if not people:
        return
    watched = Campaign.objects.filter(
        status=Campaign.Status.ACTIVE,
        kind=Campaign.Kind.JOURNEY,
        version__definition__trigger__kind="segment",
    )
    if watched.exists():
        task_publish_on_commit(
            "campaigns.segment_entries", args=[people], argsrepr=f"[{len(people)} profile ids]"
        )


def segment_entries_detect(profile_ids: Sequence[int]) -> int:
    """Check these people against every segment an active journey enters on (or leaves),
    record who entered and left, and enroll them. Returns how many were enrolled."""
    watched = {trigger.segment for _, _, trigger in segment_journeys()}
    changed: set[int] = set()
    for segment_id in sorted(watched):
        result = segment_membership_check(segment_id, list(profile_ids))
        if result is not None and (result.entered or result.exited):
            changed.add(segment_id)
    return segment_entries_enroll(segment_ids=changed) if changed else 0


def segment_entries_enroll(*, segment_ids: set[int] | None = None, chunk: int = ENTRY_CHUNK) -> int:
    """Enroll the entries (or exits) recorded since each segment journey last read them,
    `chunk` at a time, each chunk its own transaction. Returns how many were enrolled."""
    total = 0
    for campaign, journey, trigger in segment_journeys():
        if segment_ids is not None and trigger.segment not in segment_ids:
            continue
        while True:
            try:
                entered, more = _segment_entries_chunk(campaign, journey, trigger, chunk)
            except Exception:
                logger.exception("segment_entries_failed campaign_id=%s", campaign.pk)
                break
            total += entered
            if not more:
                break
    if total:
        task_publish_on_commit("campaigns.run_due")
    return total


def _cursor(campaign: Campaign, segment_id: int) -> SegmentEntryCursor | None:
    """The journey's place in the segment's changes, locked. A journey that starts reading a
    segment starts at the changes recorded since it was activated or published."""
    if not Segment.objects.filter(pk=segment_id).exists():
        return None
    found = (
        SegmentEntryCursor.objects.select_for_update()
        .filter(campaign=campaign, segment_id=segment_id)
        .first()
    )
    if found is not None:
        return found
    since = max(
        campaign.updated_at,
        campaign.version.created_at if campaign.version else campaign.updated_at,
    )
    start = MembershipChange.objects.filter(segment_id=segment_id, at__lt=since).aggregate(
        last=Max("pk")
    )["last"]
    SegmentEntryCursor.objects.get_or_create(
        campaign=campaign, segment_id=segment_id, defaults={"last_change_id": start or 0}
    )
    return SegmentEntryCursor.objects.select_for_update().get(
        campaign=campaign, segment_id=segment_id
    )


def _segment_entries_chunk(
    campaign: Campaign, journey: Journey, trigger: SegmentTrigger, chunk: int
) -> tuple[int, bool]:
    with transaction.atomic():
        cursor = _cursor(campaign, trigger.segment)
        if cursor is None:
            return 0, False
        changes = list(
            MembershipChange.objects.filter(
                segment_id=trigger.segment, pk__gt=cursor.last_change_id
            )
            .order_by("pk")
            .values_list("pk", "profile_id", "kind", "at")[:chunk]
        )
        if not changes:
            return 0, False
        now = timezone.now()
        oldest = now - max_age()
        kind = (
            MembershipChange.Kind.ENTERED if trigger.on == "entry" else MembershipChange.Kind.EXITED
        )
        name = "Entered segment" if trigger.on == "entry" else "Left segment"
        entries = [
            Entry(
                profile_id=profile_id,
                key=f"segment:{pk}",
                at=at,
                trigger={
                    "name": name,
                    "at": at.isoformat(),
                    "properties": {"segment_id": trigger.segment, "change_id": pk},
                },
            )
            for pk, profile_id, change_kind, at in changes
            # An entry older than the stale rule allows (the journey was paused, the workers
            # were away) is read past, as a stale activity is.
            if change_kind == kind and at >= oldest
        ]
        entered = entries_enroll(campaign, journey, campaign.version, entries, now)
        cursor.last_change_id = changes[-1][0]
        cursor.updated_at = now
        cursor.save(update_fields=["last_change_id", "updated_at"])
    if entered:
        logger.info(
            "segment_entries_enrolled campaign_id=%s segment_id=%s enrolled=%s",
            campaign.pk,
            trigger.segment,
            entered,
        )
    return entered, len(changes) == chunk
