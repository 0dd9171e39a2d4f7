"""Broadcasts and date triggers: journeys whose people are selected at a time, not by an event.

Beat's tick (`journey_runs_start`, every CAMPAIGNS_TICK_SECONDS) starts a run when one is
due: a broadcast at its start (at once when it has none) and, when it repeats, every week or
month from it, at the same local time in the site's time zone; a date trigger every day at
its time of day in the site's time zone. A run is a row (`JourneyRun`), unique per journey
and scheduled time, so a tick that runs twice starts it once. A time that passed more than
CAMPAIGNS_MAX_EVENT_AGE_HOURS ago is not run late (the stale rule of activities).

A run takes its people in profile-id order (keyset), `RUN_CHUNK` at a time, each chunk its
own transaction and task: the chunk enrolls them and records how far it got on the run's row,
in one commit, so a worker killed mid-chunk leaves nothing half done and the tick resumes a
run whose last chunk is older than RUN_LEASE. The entry key is the run (`broadcast:<run
time>:<person>`, `date:<day>:<person>`): a person enters once per run whatever runs twice.

A broadcast is evaluated at send time: its first chunk refreshes the segment, and the run
reads the members as that refresh left them. A broadcast whose segment was deleted fails,
with the reason on the run; publishing and activation refuse one already
(`journey_problems`).
"""

from __future__ import annotations

import calendar
import logging
import zoneinfo
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns import engine
from campaigns.entries import (
    Entry,
    active_journeys,
    entries_enroll,
    max_age,
    segment_entries_enroll,
)
from campaigns.journeys.definition import BroadcastTrigger, DateTrigger, Journey, JourneyError
from campaigns.models import Campaign, JourneyRun
from cdp_project.core.publish import task_publish, task_publish_on_commit
from profiles.models import Profile
from segments.membership import segment_refresh
from segments.models import Membership, Segment

logger = logging.getLogger(__name__)

RUN_CHUNK = 2000
# A run whose last chunk committed longer ago than this, unfinished, is resumed by the tick.
RUN_LEASE = timedelta(seconds=60)


def site_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


# --- When a run is due ---------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the month's last day when it has fewer (31 → 30)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def broadcast_due(trigger: BroadcastTrigger, start: datetime, now: datetime) -> datetime | None:
    """The latest time the broadcast is scheduled for at or before `now` (None before its
    start): its start, or for a repeating one the latest week or month from it, at the
    start's local time in the site's zone."""
    if now < start:
        return None
    if trigger.repeat == "none":
        return start
    zone = site_zone()
    local = start.astimezone(zone)
    today = now.astimezone(zone).date()
    if trigger.repeat == "weekly":
        weeks = (today - local.date()).days // 7
        candidates = [local.date() + timedelta(weeks=w) for w in (weeks, weeks - 1)]
    else:
        months = (today.year - local.year) * 12 + today.month - local.month
        candidates = [add_months(local.date(), m) for m in (months, months - 1)]
    for day in candidates:
        at = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone)
        if start <= at <= now:
            return at.astimezone(zoneinfo.ZoneInfo("UTC"))
    return start


def date_due(trigger: DateTrigger, now: datetime, *, catch_up: bool = True) -> datetime | None:
    """Today's time of day (site's zone) once it has come; before it, with `catch_up`,
    yesterday's (a day the workers were away at that time)."""
    zone = site_zone()
    today = now.astimezone(zone).date()
    days = (today, today - timedelta(days=1)) if catch_up else (today,)
    for day in days:
        at = datetime.combine(day, trigger.at, tzinfo=zone)
        if at <= now:
            return at.astimezone(zoneinfo.ZoneInfo("UTC"))
    return None


def month_days(day: date, *, yearly: bool) -> list[str]:
    """What a trait's date must read on `day`: `MM-DD` for a yearly one (on 28 February of a
    year without 29 February, `02-29` too), else the whole date."""
    if not yearly:
        return [day.isoformat()]
    wanted = [day.strftime("%m-%d")]
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        wanted.append("02-29")
    return wanted


def journey_runs_start(now: datetime | None = None) -> list[int]:
    """Start the broadcasts and date triggers that are due, and resume the runs a killed
    worker left; publishes a chunk task for each. Returns the runs published."""
    now = now or timezone.now()
    published: list[int] = []
    for campaign, journey in active_journeys():
        trigger = journey.trigger
        if not isinstance(trigger, BroadcastTrigger | DateTrigger):
            continue
        run = _run_start(campaign, journey, now)
        if run is not None:
            published.append(run.pk)
    stale = JourneyRun.objects.filter(
        finished_at__isnull=True,
        updated_at__lt=now - RUN_LEASE,
        campaign__status=Campaign.Status.ACTIVE,
    ).exclude(pk__in=published)
    for run_id in stale.values_list("pk", flat=True):
        logger.info("journey_run_resumed run_id=%s", run_id)
        published.append(run_id)
    for run_id in published:
        task_publish_on_commit("campaigns.journey_run", args=[run_id])
    return published


def _run_start(campaign: Campaign, journey: Journey, now: datetime) -> JourneyRun | None:
    trigger = journey.trigger
    runs = JourneyRun.objects.filter(campaign=campaign)
    if isinstance(trigger, BroadcastTrigger):
        kind = JourneyRun.Kind.BROADCAST
        first = runs.filter(kind=kind).order_by("run_at").first()
        if trigger.repeat == "none" and first is not None:
            return None  # a one-off broadcast runs once, whatever is published after it
        start = trigger.start or (first.run_at if first is not None else now.replace(microsecond=0))
        run_at = broadcast_due(trigger, start, now)
    elif isinstance(trigger, DateTrigger):
        kind = JourneyRun.Kind.DATE
        # Yesterday's run is made up only for a journey that ran before: one activated
        # today starts with today's.
        run_at = date_due(trigger, now, catch_up=runs.exists())
    else:
        return None
    if run_at is None or now - run_at > max_age() or campaign.version is None:
        return None
    if runs.filter(run_at=run_at).exists():
        return None
    run, created = JourneyRun.objects.get_or_create(
        campaign=campaign,
        run_at=run_at,
        defaults={
            "kind": kind,
            "version": campaign.version,
            "segment_id": trigger.segment if isinstance(trigger, BroadcastTrigger) else None,
            "started_at": now,
            "updated_at": now,
        },
    )
    if not created:
        return None
    logger.info("journey_run_started run_id=%s campaign_id=%s kind=%s", run.pk, campaign.pk, kind)
    return run


# --- Running one -------------------------------------------------------------------------------


def journey_run_chunk(run_id: int, *, chunk: int = RUN_CHUNK) -> bool:
    """Enroll the run's next `chunk` people in one transaction; returns whether more are
    left. A run another worker holds, finished, or of a paused journey is left alone."""
    run = JourneyRun.objects.select_related("campaign").filter(pk=run_id).first()
    if run is None or run.finished_at is not None:
        return False
    if run.campaign.status != Campaign.Status.ACTIVE:
        return False  # resumed when the journey is active again
    if run.kind == JourneyRun.Kind.BROADCAST and run.chunks == 0:
        # Evaluated at send time. Again if a worker died before the first chunk committed.
        error = _segment_refreshed(run.segment_id)
        if error:
            JourneyRun.objects.filter(pk=run_id, finished_at__isnull=True).update(
                error=error, finished_at=timezone.now(), updated_at=timezone.now()
            )
            logger.warning("journey_run_failed run_id=%s: %s", run_id, error)
            return False
    with transaction.atomic():
        run = (
            JourneyRun.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("campaign", "campaign__audience", "version")
            .filter(pk=run_id, finished_at__isnull=True)
            .first()
        )
        if run is None:
            return False
        now = timezone.now()
        try:
            journey = engine.journey_of(run.campaign, run.version)
        except JourneyError as exc:
            run.error = f"The journey cannot run: {exc}"[:2000]
            run.finished_at = run.updated_at = now
            run.save(update_fields=["error", "finished_at", "updated_at"])
            return False
        people = _next_people(run, journey, chunk)
        entries = [_entry(run, journey, profile_id) for profile_id in people]
        entered = entries_enroll(run.campaign, journey, run.version, entries, now)
        if people:
            run.last_profile_id = people[-1]
        run.enrolled += entered
        run.skipped += len(people) - entered
        run.chunks += 1
        run.updated_at = now
        more = len(people) == chunk
        if not more:
            run.finished_at = now
        run.save()
    logger.info(
        "journey_run_chunk run_id=%s people=%s enrolled=%s more=%s",
        run_id,
        len(people),
        entered,
        more,
    )
    return more


def _segment_refreshed(segment_id: int | None) -> str:
    if segment_id is None or not Segment.objects.filter(pk=segment_id).exists():
        return f"The segment #{segment_id} was deleted: the broadcast was not sent."
    result = segment_refresh(segment_id)
    if result is None:
        return f"The segment #{segment_id} was deleted: the broadcast was not sent."
    if result.error:
        return f"The segment could not be evaluated: {result.error}"
    return ""


def _next_people(run: JourneyRun, journey: Journey, chunk: int) -> list[int]:
    trigger = journey.trigger
    if run.kind == JourneyRun.Kind.BROADCAST and run.segment_id is not None:
        # The membership's unique index (segment, profile) reads this in order.
        return list(
            Membership.objects.filter(segment_id=run.segment_id, profile_id__gt=run.last_profile_id)
            .order_by("profile_id")
            .values_list("profile_id", flat=True)[:chunk]
        )
    if not isinstance(trigger, DateTrigger):
        return []
    day = run.run_at.astimezone(site_zone()).date()
    # A trait holding an ISO date or date-time ("1990-05-17", "2027-01-31T00:00:00Z"): its
    # date as written. One pass over the profiles in id order for the whole run.
    if trigger.yearly:
        test = "substr(traits ->> %s, 6, 5) = ANY(%s)"
    else:
        test = "left(traits ->> %s, 10) = ANY(%s)"
    sql = f"""
        SELECT id FROM {Profile._meta.db_table}
        WHERE id > %s AND traits ->> %s ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}' AND {test}
        ORDER BY id LIMIT %s
    """  # noqa: S608 - the table name comes from the model; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                run.last_profile_id,
                trigger.trait,
                trigger.trait,
                month_days(day, yearly=trigger.yearly),
                chunk,
            ],
        )
        return [row[0] for row in cursor.fetchall()]


def _entry(run: JourneyRun, journey: Journey, profile_id: int) -> Entry:
    trigger = journey.trigger
    if isinstance(trigger, DateTrigger):
        day = run.run_at.astimezone(site_zone()).date().isoformat()
        return Entry(
            profile_id=profile_id,
            key=f"date:{day}:{profile_id}",
            at=run.run_at,
            trigger={
                "name": f"Date in {trigger.trait}",
                "at": run.run_at.isoformat(),
                "properties": {"trait": trigger.trait, "date": day, "run_id": run.pk},
            },
        )
    return Entry(
        profile_id=profile_id,
        key=f"broadcast:{run.run_at.isoformat()}:{profile_id}",
        at=run.run_at,
        trigger={
            "name": "Broadcast",
            "at": run.run_at.isoformat(),
            "properties": {"segment_id": run.segment_id, "run_id": run.pk},
        },
    )


def journey_run(run_id: int) -> bool:
    """What the `campaigns.journey_run` task does: one chunk, the next chunk's task published
    at once (another worker takes it), then this chunk's first steps run here."""
    more = journey_run_chunk(run_id)
    if more:
        task_publish("campaigns.journey_run", args=[run_id])
    engine.campaigns_run_due(max_batches=RUN_CHUNK // engine.CLAIM_BATCH + 1)
    return more


def journeys_tick(now: datetime | None = None) -> dict[str, int]:
    """Beat's tick for the triggers that are not activities: the segment entries and exits a
    refresh recorded, and the runs that are due."""
    entered = segment_entries_enroll()
    runs = journey_runs_start(now)
    return {"segment_entries": entered, "runs": len(runs)}
