"""The journey engine: enrollments from events, and the due work beat runs.

Every campaign is a journey (campaigns/journeys/definition.py): the three built-ins read
theirs from their settings (`builtin_journey`), a journey a marketer built from its live
version. docs/journeys.md tells the rules in the marketer's words.

`campaigns_enroll` is an ingest processor (last in INGEST_EVENT_PROCESSORS): per batch it
exits waiting enrollments whose exit activities arrived, creates enrollments for trigger
events (at the journey's first step, due when its first wait ends), and wakes the people
waiting for an activity the batch holds. Nothing is scheduled on the broker.

`campaigns_run_due`, run by Celery beat every CAMPAIGNS_TICK_SECONDS, claims due enrollments
in small batches (profiles, then enrollments, locked with SKIP LOCKED, so several workers
share the work and never wait for each other) and runs each one's steps until it has to
wait or ends. Every step done is recorded (`StepRun`, one per enrollment and step) in the
same transaction as what it did; a send records its message as claimed there too. Only
after commit is the channel called; a success marks it sent, a failure is retried with
backoff and ends failed with the error kept.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from time import monotonic as time_monotonic
from typing import Any, cast

from django.conf import settings
from django.core import signing
from django.db import DatabaseError, transaction
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from campaigns import channels, content, rendering
from campaigns.journeys.builtin import builtin_journey
from campaigns.journeys.definition import (
    ActivityTrigger,
    Exit,
    Journey,
    JourneyError,
    RandomSplit,
    Send,
    Split,
    Step,
    Update,
    Wait,
    WaitFor,
    journey_parse,
)
from campaigns.journeys.words import activity_words
from campaigns.models import (
    Campaign,
    EmailSuppression,
    Enrollment,
    JourneyVersion,
    Message,
    StepRun,
)
from campaigns.selectors import email_suppression_reason, suppression_reason
from cdp_project.access.actors import Actor
from cdp_project.access.audit import audit_write
from cdp_project.core.db import rows_update
from cdp_project.core.publish import task_publish_on_commit
from ingestion.models import CommerceRole, Event
from profiles.computed.activities import ActivityMeanings, activity_key, activity_meanings
from profiles.identity import profiles_lock
from profiles.models import Consent, Profile, ProfileNote
from segments.compiler import Compiler, segment_q
from segments.definition import DefinitionError
from segments.tree import (
    ActivityName,
    ActivityRole,
    ActivitySelector,
    Behaviour,
    EventCount,
    EverWindow,
    PropertyFilter,
)

logger = logging.getLogger(__name__)

State = Enrollment.State
Outcome = StepRun.Outcome
UNSUBSCRIBE_SALT = "campaigns.unsubscribe"
CLAIM_BATCH = 200
SENT_FLUSH_COUNT = 50
SENT_FLUSH_SECONDS = 0.5
EVENT_TYPES = ("track", "page", "screen")


# --- Reasons a marketer reads ----------------------------------------------------------------


class Reason:
    NO_EMAIL = "no email"
    NO_CONSENT = "no consent"
    NOT_IN_AUDIENCE = "not in the audience"
    AUDIENCE_BROKEN = "the audience could not be checked"
    CAPPED = "capped: this campaign's limit per person"
    CAPPED_MARKETING = "capped: the daily limit across marketing campaigns"
    CONTROL = "control group"
    CART_PENDING = "stood down: a cart reminder is waiting or was sent"
    CART_EMPTY = "the cart is empty: everything added was removed"
    PROFILE_GONE = "the person was deleted"
    MERGED = "already waiting on the merged profile"
    EXIT_STEP = "reached an exit step"
    CONDITION_BROKEN = "the condition could not be checked"

    @staticmethod
    def exited(role: str) -> str:
        label = CommerceRole(role).label.lower() if role in CommerceRole.values else role
        return f"converted: {label}"

    @staticmethod
    def broken(error: JourneyError) -> str:
        return f"the journey cannot run: {error}"


# --- Which journey an enrollment runs -------------------------------------------------------

_parsed: dict[int, Journey] = {}


def journey_of(campaign: Campaign, version: JourneyVersion | None = None) -> Journey:
    """The journey a campaign runs: a built-in's from its settings, a journey's from the
    given version (its live one by default). Raises JourneyError for one that cannot run."""
    if not campaign.is_journey:
        return builtin_journey(campaign)
    version = version or campaign.version
    if version is None:
        raise JourneyError(["This journey has no published version."])
    # Versions never change once written: parse each once per process.
    journey = _parsed.get(version.pk)
    if journey is None:
        journey = journey_parse(version.definition)
        if len(_parsed) > 512:
            _parsed.clear()
        _parsed[version.pk] = journey
    return journey


def selector_matches(selector: ActivitySelector, event: Event, meanings: ActivityMeanings) -> bool:
    """Whether an event is the activity a trigger, exit rule or wait names (its property
    filters aside)."""
    match selector:
        case ActivityRole(role=role):
            key = activity_key(event)
            meaning = meanings.get(key) if key else None
            return meaning is not None and meaning.role == role
        case ActivityName(kind=kind, name=name):
            return event.type == kind and (kind != "track" or event.name == name)


def selector_events(
    events: QuerySet[Event],
    selector: ActivitySelector,
    where: tuple[PropertyFilter, ...] = (),
    sources: tuple[int, ...] = (),
) -> QuerySet[Event]:
    """Events of an activity with the segment builder's property filters, compiled as a
    segment's behaviour condition compiles them (array items included)."""
    node = Behaviour(
        activity=selector,
        count=EventCount("at_least", 1),
        window=EverWindow(),
        where=where,
        sources=sources,
    )
    return Compiler().event_filter(events, node)


# --- Enrollment ------------------------------------------------------------------------------


def _max_age() -> timedelta:
    return timedelta(hours=float(settings.CAMPAIGNS_MAX_EVENT_AGE_HOURS))


def profile_of(event: Event) -> int:
    """The profile of an event the engine decides on: `campaigns_enroll` and the dry run
    take only events tied to a profile."""
    return cast(int, event.profile_id)


@dataclass
class _Active:
    campaign: Campaign
    journey: Journey
    triggers: list[Event] = field(default_factory=list)
    exits: list[tuple[Event, str]] = field(default_factory=list)


def campaigns_enroll(events: Sequence[Event]) -> None:
    """The ingest processor: exits, new enrollments and wake-ups for a batch of events."""
    events = [e for e in events if e.profile_id is not None and e.type in EVENT_TYPES]
    if not events:
        return
    campaigns = list(
        Campaign.objects.filter(status=Campaign.Status.ACTIVE).select_related("version")
    )
    if not campaigns:
        return
    meanings = activity_meanings(events)
    ordered = sorted(events, key=lambda e: (e.timestamp, e.pk))
    active: list[_Active] = []
    for campaign in campaigns:
        try:
            journey = journey_of(campaign)
        except JourneyError:
            logger.warning("journey cannot run campaign_id=%s", campaign.pk)
            continue
        found = _Active(campaign, journey)
        if isinstance(journey.trigger, ActivityTrigger):
            found.triggers = _trigger_events(journey.trigger, ordered, meanings)
        for event in ordered:
            for selector in journey.exit_on:
                if selector_matches(selector, event, meanings):
                    label = (
                        Reason.exited(selector.role)
                        if isinstance(selector, ActivityRole)
                        else f"converted: {activity_words(selector).lower()}"
                    )
                    found.exits.append((event, label))
                    break
        active.append(found)
    # Wake-ups when the batch holds an activity a live version waits for (a person on an older
    # version is still found at their timeout, when the runner checks the events again).
    awaited = [step.activity for found in active for step in found.journey.waits_for()]
    waits = any(selector_matches(a, event, meanings) for a in awaited for event in ordered)
    if not waits and not any(a.triggers or a.exits for a in active):
        return
    # The batch's people, in the order every writer of profiles locks them, so that a merge
    # cannot move enrollments while they are decided.
    profiles_lock(profile_ids={profile_of(event) for event in events})
    for found in active:
        _exits(found.campaign, found.exits)
    created = sum(_enrollments(found) for found in active)
    # Exits again: a purchase later in the same batch exits what this batch created.
    for found in active:
        _exits(found.campaign, found.exits)
    woken = _wake_waiting(ordered, meanings) if waits else []
    if woken or (created and any(_due_at_once(found) for found in active if found.triggers)):
        # Run due work now (an order confirmation is due at once); beat runs it anyway
        # within CAMPAIGNS_TICK_SECONDS should publishing fail.
        task_publish_on_commit("campaigns.run_due")


def _trigger_events(
    trigger: ActivityTrigger, ordered: list[Event], meanings: ActivityMeanings
) -> list[Event]:
    found = [e for e in ordered if selector_matches(trigger.activity, e, meanings)]
    if found and (trigger.where or trigger.sources):
        try:
            with transaction.atomic():
                kept = set(
                    selector_events(
                        Event.objects.filter(pk__in=[e.pk for e in found]),
                        trigger.activity,
                        trigger.where,
                        trigger.sources,
                    ).values_list("pk", flat=True)
                )
        except (DefinitionError, DatabaseError):
            # A filter the catalog no longer agrees with (a property's type changed since
            # the journey was published): nobody enters, and the batch goes on.
            logger.exception("journey trigger filter failed")
            kept = set()
        found = [e for e in found if e.pk in kept]
    return found


def _due_at_once(found: _Active) -> bool:
    first = found.journey.step(found.journey.start)
    return not isinstance(first, Wait | WaitFor)


def _exits(campaign: Campaign, exits: list[tuple[Event, str]]) -> None:
    latest: dict[int, tuple[datetime, str]] = {}
    for event, label in exits:
        latest[profile_of(event)] = (event.timestamp, label)
    for profile_id, (at, label) in latest.items():
        Enrollment.objects.filter(
            campaign=campaign, profile_id=profile_id, state=State.PENDING, trigger_at__lte=at
        ).update(state=State.EXITED, reason=label, updated_at=timezone.now())


def entry_key(trigger: ActivityTrigger, event: Event) -> str:
    """The value that keys an entry (one per value and journey), or empty: the order id
    as profiles read it for `order_id`, else the named property; the message id when the
    event lacks it, so that such events still enter once each."""
    if not trigger.entry_key:
        return ""
    properties = event.properties if isinstance(event.properties, dict) else {}
    if trigger.entry_key == "order_id":
        value = content.order_id_of(properties)
    else:
        found = properties.get(trigger.entry_key)
        value = str(found).strip() if isinstance(found, str | int | float) else ""
    return (value or f"message:{event.message_id}")[:255]


def first_due(journey: Journey, trigger_at: datetime, now: datetime) -> datetime:
    """When a new enrollment is first due: when its leading plain wait ends (counted from the
    trigger event), else now."""
    first = journey.step(journey.start)
    if isinstance(first, Wait) and first.seconds and first.until is None and not first.weekdays:
        return trigger_at + timedelta(seconds=first.seconds)
    return now


def _enrollments(found: _Active) -> int:
    campaign, journey = found.campaign, found.journey
    trigger = journey.trigger
    if not found.triggers or not isinstance(trigger, ActivityTrigger):
        return 0
    now = timezone.now()
    oldest = now - _max_age()
    triggers = [event for event in found.triggers if event.timestamp >= oldest]
    if not triggers:
        return 0
    people = {profile_of(e) for e in triggers}
    if campaign.is_journey and campaign.audience_id is not None:
        people &= audience_members(campaign, people)
    pending_only = campaign.reentry == Campaign.Reentry.WHILE_PENDING
    blocked = _waiting_profiles(campaign, people) if pending_only else set()
    if campaign.reentry == Campaign.Reentry.PER_DAYS:
        blocked = _recently_entered(campaign, people, now)
    new: list[Enrollment] = []
    for event in triggers:
        if profile_of(event) not in people:
            continue
        key = entry_key(trigger, event)
        if not key and event.profile_id in blocked:
            continue
        new.append(
            enrollment_for_event(
                campaign,
                journey,
                event,
                key=key,
                due=first_due(journey, event.timestamp, now),
                at=now,
            )
        )
        if pending_only or campaign.reentry == Campaign.Reentry.PER_DAYS:
            blocked.add(profile_of(event))
    if new:
        # The database keeps what must happen once: an order id seen before (sent twice, or
        # by two sources) enrolls once (`enrollment_key_unique`), and a person who entered a
        # once-per-person campaign, now or ever, enters it no more
        # (`enrollment_once_per_person`). Their rows are skipped here.
        Enrollment.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def enrollment_for_event(
    campaign: Campaign, journey: Journey, event: Event, *, key: str, due: datetime, at: datetime
) -> Enrollment:
    """A new (unsaved) enrollment of the event's person, at the journey's first step, with a
    copy of the event (events can be deleted) and the keys its steps match on."""
    properties = event.properties if isinstance(event.properties, dict) else {}
    enrollment = Enrollment(
        campaign=campaign,
        version=campaign.version if campaign.is_journey else None,
        profile_id=profile_of(event),
        event=event,
        trigger={"name": event.name, "at": event.timestamp.isoformat(), "properties": properties},
        trigger_at=event.timestamp,
        key=key,
        cart_id=content.cart_id_of(properties),
        once=campaign.reentry == Campaign.Reentry.ONCE and not key,
        node=journey.start,
        step_at=event.timestamp,
        due_at=due,
        created_at=at,
        updated_at=at,
    )
    return control_hold_out(enrollment, campaign)


def audience_members(campaign: Campaign, people: set[int]) -> set[int]:
    """The people of a batch in a journey's audience, checked at entry (on an activity, a
    segment or a broadcast)."""
    audience = campaign.audience
    if audience is None:
        return people
    try:
        with transaction.atomic():
            return set(
                Profile.objects.filter(pk__in=people)
                .filter(segment_q(audience.definition))
                .values_list("pk", flat=True)
            )
    except Exception:
        logger.exception("journey audience check failed campaign_id=%s", campaign.pk)
        return set()


def _waiting_profiles(campaign: Campaign, profile_ids: set[int]) -> set[int]:
    """The people waiting in this campaign now, whom "not while one is waiting" keeps out."""
    enrollments = Enrollment.objects.filter(
        campaign=campaign, profile_id__in=profile_ids, state=State.PENDING
    )
    return set(enrollments.values_list("profile_id", flat=True))


def _recently_entered(campaign: Campaign, profile_ids: set[int], now: datetime) -> set[int]:
    """The people who entered within the journey's re-entry period."""
    since = now - timedelta(days=campaign.reentry_days)
    enrollments = Enrollment.objects.filter(
        campaign=campaign, profile_id__in=profile_ids, created_at__gt=since
    )
    return set(enrollments.values_list("profile_id", flat=True))


def _wake_waiting(
    ordered: list[Event],
    meanings: ActivityMeanings,
    *,
    now: datetime | None = None,
    campaign: Campaign | None = None,
) -> list[int]:
    """People waiting for an activity this batch holds are due now: the runner checks the
    match (keys, filters) and takes the "yes" branch at once. Returns their enrollments."""
    by_profile: dict[int, list[Event]] = {}
    for event in ordered:
        by_profile.setdefault(profile_of(event), []).append(event)
    waiting = Enrollment.objects.filter(
        profile_id__in=list(by_profile),
        state=State.PENDING,
        campaign__kind=Campaign.Kind.JOURNEY,
        campaign__status=Campaign.Status.ACTIVE,
    )
    if campaign is not None:
        waiting = waiting.filter(campaign=campaign)
    waiting = waiting.select_related("campaign", "version").only(
        "pk", "node", "profile_id", "campaign", "version"
    )
    woken = []
    for enrollment in waiting:
        try:
            step = journey_of(enrollment.campaign, enrollment.version).step(enrollment.node)
        except JourneyError:
            continue
        if isinstance(step, WaitFor) and any(
            selector_matches(step.activity, event, meanings)
            for event in by_profile[enrollment.profile_id]
        ):
            woken.append(enrollment.pk)
    if woken:
        Enrollment.objects.filter(pk__in=woken, state=State.PENDING).update(
            due_at=now or timezone.now()
        )
    return woken


def enrollments_mark_once(*, campaign: Campaign) -> None:
    """A campaign switched to "only once per person": each person's first enrollment in it
    becomes their one entry, so the constraint keeps out those who entered before. Cleared
    first, so that no statement sees two entries of one person."""
    enrollments = Enrollment.objects.filter(campaign=campaign)
    enrollments.filter(once=True).update(once=False)
    first = (
        enrollments.order_by("profile_id", "pk").distinct("profile_id").values_list("pk", flat=True)
    )
    Enrollment.objects.filter(pk__in=list(first)).update(once=True)


def enrollments_merge(sender: Any, *, loser_id: int, survivor_id: int, **kwargs: Any) -> None:
    """Receiver of `profiles.signals.profile_merged`: the merged profile's enrollments and
    messages move to the survivor; where both wait in one campaign (not an every-time one),
    the earlier-due enrollment stays and the other exits. Where both entered a once-per-person
    campaign, the survivor's entry stays the person's one."""
    Enrollment.objects.filter(
        profile_id=loser_id,
        once=True,
        campaign_id__in=Enrollment.objects.filter(profile_id=survivor_id, once=True).values(
            "campaign_id"
        ),
    ).update(once=False)
    Enrollment.objects.filter(profile_id=loser_id).update(profile_id=survivor_id)
    Message.objects.filter(profile_id=loser_id).update(profile_id=survivor_id)
    # Test sends rendered for the merged profile are the survivor's data now.
    Message.objects.filter(rendered_for_id=loser_id).update(rendered_for_id=survivor_id)
    waiting = (
        Enrollment.objects.filter(profile_id=survivor_id, state=State.PENDING)
        .exclude(campaign__reentry=Campaign.Reentry.ALWAYS)
        .order_by("campaign_id", "due_at", "id")
    )
    kept: set[int] = set()
    duplicates = []
    for enrollment in waiting:
        if enrollment.campaign_id in kept:
            duplicates.append(enrollment.pk)
        kept.add(enrollment.campaign_id)
    if duplicates:
        Enrollment.objects.filter(pk__in=duplicates).update(
            state=State.EXITED, reason=Reason.MERGED, updated_at=timezone.now()
        )


# --- Due work ----------------------------------------------------------------------------------


# --- Due work ----------------------------------------------------------------------------------


@dataclass
class RunResult:
    decided: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    failed: int = 0
    retried: int = 0


def campaigns_run_due(*, batch_size: int = CLAIM_BATCH, max_batches: int = 20) -> RunResult:
    """Run what is due and send it: what beat runs every CAMPAIGNS_TICK_SECONDS."""
    result = RunResult()
    for _ in range(max_batches):
        claimed, taken = _claim_batch(batch_size, result)
        _deliver_taken(taken, result)
        messages_deliver(result=result)
        if claimed < batch_size:
            break
    messages_deliver(result=result)
    return result


def _claim_batch(batch_size: int, result: RunResult) -> tuple[int, list[Message]]:
    """Run a batch of due enrollments' steps in one transaction; return how many were due
    and the messages it recorded, already leased to this worker (`_Writes.flush`) for the
    caller to hand to their channel once the transaction has committed."""
    now = timezone.now()
    with transaction.atomic():
        # The due enrollments no other worker holds (two workers take two batches, not the
        # same one twice), then their profiles, then the enrollments again with their
        # profiles; every lock skips what another holds, so this never waits and nothing
        # is decided twice.
        candidates = list(
            Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=State.PENDING, due_at__lte=now, campaign__status=Campaign.Status.ACTIVE)
            .order_by("due_at", "id")
            .values_list("pk", "profile_id")[:batch_size]
        )
        if not candidates:
            return 0, []
        locked_profiles = list(
            Profile.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(pk__in=sorted({p for _, p in candidates}))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        enrollments = list(
            Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("profile")
            .filter(
                pk__in=[pk for pk, _ in candidates],
                profile_id__in=locked_profiles,
                state=State.PENDING,
                due_at__lte=now,
            )
            .order_by("due_at", "id")
        )
        _journeys_attach(enrollments)
        facts = _facts_for(enrollments, now)
        for enrollment in enrollments:
            outcome = enrollment_advance(enrollment, now, facts=facts)
            result.decided[outcome] = result.decided.get(outcome, 0) + 1
        taken = facts.writes.flush(now)
    return len(candidates), taken


def _journeys_attach(enrollments: list[Enrollment]) -> None:
    """Give a batch's enrollments their campaign (with its audience) and version, each read
    once for the batch rather than once per enrollment."""
    campaigns = Campaign.objects.select_related("audience", "version").in_bulk(
        {e.campaign_id for e in enrollments}
    )
    versions = JourneyVersion.objects.in_bulk(
        {e.version_id for e in enrollments if e.version_id is not None}
    )
    for enrollment in enrollments:
        enrollment.campaign = campaigns[enrollment.campaign_id]
        if enrollment.version_id is not None:
            enrollment.version = versions[enrollment.version_id]


@dataclass(frozen=True)
class _Hold:
    """Wait at this step until `until`."""

    until: datetime
    outcome: str = "waiting"


@dataclass(frozen=True)
class _Next:
    """The step is done (`outcome`, with the branch or the reason in `detail`): go on to
    `next`, or end when it is empty."""

    outcome: str
    detail: str
    next: str


@dataclass(frozen=True)
class _End:
    """The journey ends at this step, in `state`."""

    state: str
    reason: str
    outcome: str


# How an enrollment ends after its last step, by that step's outcome: a send's message
# decides (sending until the channel took it), anything else completes it.
_ENDING: dict[str, str] = {
    Outcome.SENT: State.SENDING,
    Outcome.SUPPRESSED: State.SUPPRESSED,
    Outcome.FAILED: State.FAILED,
}


# What a claimed enrollment's row is written with once its steps have run.
_ENROLLMENT_FIELDS = ["state", "reason", "node", "step_at", "due_at", "updated_at"]


@dataclass
class _Writes:
    """The rows a batch of due enrollments makes, written together at the end of the batch's
    transaction: its messages and its step runs in one insert each, its enrollments in one
    update. Nothing in the batch reads them back before then (each enrollment is locked by
    this batch, and the caps read the batch's own messages from `_Facts.recent`)."""

    messages: list[Message] = field(default_factory=list)
    step_runs: list[StepRun] = field(default_factory=list)
    enrollments: dict[int, Enrollment] = field(default_factory=dict)

    def flush(self, now: datetime) -> list[Message]:
        """Write the batch's rows; return its messages to hand to their channel. They are
        written leased to this worker (an attempt counted, the next one after the backoff,
        as `messages_deliver` takes them), so no other worker sends them meanwhile, and a
        worker that stops before handing them over leaves them to the next after the
        lease."""
        taken = [m for m in self.messages if m.status == Message.Status.CLAIMED]
        for message in taken:
            message.attempts = 1
            message.next_attempt_at = now + _backoff(1)
        Message.objects.bulk_create(self.messages)
        StepRun.objects.bulk_create(self.step_runs)
        rows_update(Enrollment, list(self.enrollments.values()), _ENROLLMENT_FIELDS)
        self.messages, self.step_runs, self.enrollments = [], [], {}
        return taken


@dataclass
class _Facts:
    """What the send rules read for a batch of due enrollments, read once for the batch: the
    addresses the email provider reported, and each person's recent messages (those the
    batch claims added as it goes); and the rows the batch writes at its end."""

    suppressions: dict[str, EmailSuppression]
    # profile → (campaign, transactional, created) of each message not failed, in the window
    recent: dict[int, list[tuple[int | None, bool, datetime]]]
    writes: _Writes = field(default_factory=_Writes)


def _facts_for(enrollments: list[Enrollment], now: datetime) -> _Facts:
    emails = {e.profile.email for e in enrollments if e.profile.email}
    suppressions = {
        s.address: s for s in EmailSuppression.objects.filter(address__in=sorted(emails))
    }
    hours = max([24, *(e.campaign.cap_hours for e in enrollments if e.campaign.cap_count)])
    recent: dict[int, list[tuple[int | None, bool, datetime]]] = {}
    rows = (
        Message.objects.filter(
            profile_id__in={e.profile_id for e in enrollments},
            created_at__gt=now - timedelta(hours=hours),
        )
        .exclude(status=Message.Status.FAILED)
        .values_list("profile_id", "campaign_id", "transactional", "created_at")
    )
    for profile_id, campaign_id, transactional, created_at in rows:
        recent.setdefault(profile_id, []).append((campaign_id, transactional, created_at))
    return _Facts(suppressions, recent)


def enrollment_advance(
    enrollment: Enrollment, now: datetime, *, facts: _Facts | None = None
) -> str:
    """Run a due enrollment's steps until one has to wait or the journey ends; return what
    became of it ("claimed" when a message was recorded, "waiting", "held", or the state it
    ended in). Runs in the caller's transaction, with the enrollment and its profile locked."""
    campaign = enrollment.campaign
    if campaign.status != Campaign.Status.ACTIVE:
        return "paused"  # paused since it was picked: it waits for the campaign's return
    try:
        journey = journey_of(campaign, enrollment.version)
    except JourneyError as error:
        return _close(enrollment, State.FAILED, Reason.broken(error), now, facts)
    if exit_reason := _exit_reason(enrollment, journey, now):
        return _close(enrollment, State.EXITED, exit_reason, now, facts)
    if not enrollment.node:
        # At the start (a row from before steps were recorded): the first wait counts
        # from the trigger event.
        enrollment.node = journey.start
        enrollment.step_at = enrollment.step_at or enrollment.trigger_at
    step_id = enrollment.node
    claimed = False
    for _ in range(len(journey.steps) + 1):
        step = journey.step(step_id)
        if step is None:
            return _close(enrollment, State.COMPLETED, "", now, facts)
        if enrollment.node != step_id:
            enrollment.node, enrollment.step_at = step_id, now
        done = _run_step(enrollment, journey, step, now, facts)
        if isinstance(done, _Hold):
            enrollment.due_at = done.until
            enrollment.updated_at = now
            _enrollment_save(enrollment, facts)
            return "claimed" if claimed else done.outcome
        _record(
            enrollment,
            step,
            done.outcome,
            done.reason if isinstance(done, _End) else done.detail,
            now,
            facts,
        )
        if isinstance(done, _End):
            return _close(enrollment, done.state, done.reason, now, facts)
        claimed = claimed or done.outcome == Outcome.SENT
        if not done.next:
            state = (
                _ENDING.get(done.outcome, State.COMPLETED)
                if isinstance(step, Send)
                else State.COMPLETED
            )
            reason = done.detail if state in (State.SUPPRESSED, State.FAILED) else ""
            _close(enrollment, state, reason, now, facts)
            return "claimed" if claimed else state
        step_id = done.next
    return _close(
        enrollment, State.FAILED, "the journey has more steps than it can run", now, facts
    )


def _enrollment_save(enrollment: Enrollment, facts: _Facts | None) -> None:
    """Write the enrollment's place and state: at the end of the batch when there is one."""
    if facts is None:
        enrollment.save(update_fields=_ENROLLMENT_FIELDS)
    else:
        facts.writes.enrollments[enrollment.pk] = enrollment


def _record(
    enrollment: Enrollment,
    step: Step,
    outcome: str,
    detail: str,
    now: datetime,
    facts: _Facts | None = None,
) -> None:
    run = StepRun(
        campaign_id=enrollment.campaign_id,
        enrollment=enrollment,
        node=step.id,
        outcome=outcome,
        detail=detail[:500],
        at=now,
    )
    if facts is None:
        run.save()
    else:
        facts.writes.step_runs.append(run)


def _close(
    enrollment: Enrollment, state: str, reason: str, now: datetime, facts: _Facts | None = None
) -> str:
    enrollment.state = state
    enrollment.reason = reason[:500]
    enrollment.updated_at = now
    _enrollment_save(enrollment, facts)
    return state


def _run_step(
    enrollment: Enrollment, journey: Journey, step: Step, now: datetime, facts: _Facts | None
) -> _Hold | _Next | _End:
    since = enrollment.step_at or enrollment.trigger_at
    match step:
        case Wait():
            target = wait_end(step, since, person_zone(enrollment.profile))
            if now < target:
                return _Hold(target)
            return _Next(Outcome.WAITED, "", step.next)
        case WaitFor():
            deadline = since + timedelta(seconds=step.timeout_seconds)
            if _waited_event(enrollment, step, since, min(now, deadline)):
                return _Next(Outcome.MATCHED, "", step.yes)
            if now < deadline:
                return _Hold(deadline)
            return _Next(Outcome.TIMED_OUT, "", step.timed_out)
        case Split():
            holds = _split_holds(enrollment, step, now)
            if holds is None:
                return _Next(Outcome.NO, Reason.CONDITION_BROKEN, step.no)
            return _Next(Outcome.YES, "", step.yes) if holds else _Next(Outcome.NO, "", step.no)
        case RandomSplit():
            branch = random_branch(enrollment.pk, step)
            return _Next(Outcome.BRANCH, branch.label or f"{branch.percent} %", branch.next)
        case Send():
            return _send(enrollment, step, now, facts)
        case Update():
            _update_profile(enrollment, step, now)
            return _Next(Outcome.UPDATED, "", step.next)
        case Exit():
            return _End(State.EXITED, Reason.EXIT_STEP, Outcome.EXITED)


def person_zone(profile: Profile) -> zoneinfo.ZoneInfo:
    """A person's time zone (their `timezone` trait), else the site's TIME_ZONE."""
    if isinstance(profile.traits, dict):
        for name in ("timezone", "time_zone", "timeZone"):
            value = profile.traits.get(name)
            if isinstance(value, str) and value:
                try:
                    return zoneinfo.ZoneInfo(value)
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    break
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def wait_end(step: Wait, since: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """When a wait that began at `since` ends: after its duration, then at the next time of
    day it names, on one of its weekdays, in the person's zone."""
    end = since + timedelta(seconds=step.seconds)
    if step.until is None and not step.weekdays:
        return end
    local = end.astimezone(zone)
    if step.until is not None:
        candidate = datetime.combine(local.date(), step.until, tzinfo=zone)
        if candidate < local:
            candidate += timedelta(days=1)
    else:
        candidate = local
    for _ in range(7):
        if not step.weekdays or candidate.weekday() in step.weekdays:
            break
        candidate = datetime.combine(
            candidate.date() + timedelta(days=1), step.until or time(0, 0), tzinfo=zone
        )
    return candidate.astimezone(zoneinfo.ZoneInfo("UTC"))


def _waited_event(enrollment: Enrollment, step: WaitFor, since: datetime, until: datetime) -> bool:
    """Whether the person did the awaited activity between `since` and `until`, with the
    trigger's values of the match keys (a key the trigger or the event lacks is not
    compared)."""
    events = Event.objects.filter(
        profile_id=enrollment.profile_id, timestamp__gte=since, timestamp__lte=until
    )
    if enrollment.event_id is not None:
        events = events.exclude(pk=enrollment.event_id)
    trigger_properties = enrollment.trigger.get("properties") if enrollment.trigger else {}
    if not isinstance(trigger_properties, dict):
        trigger_properties = {}
    for key in step.match_keys:
        value = trigger_properties.get(key)
        if value not in (None, ""):
            # The same value, or none at all: an order that names no cart may be this cart
            # (as the cart's own contents read it, campaigns/content.py `cart_of`).
            events = events.filter(
                Q(properties__contains={key: value}) | ~Q(properties__has_key=key)
            )
    try:
        with transaction.atomic():
            return selector_events(events, step.activity, step.where).exists()
    except (DefinitionError, DatabaseError):
        logger.exception("journey wait filter failed enrollment_id=%s", enrollment.pk)
        return False


def _split_holds(enrollment: Enrollment, step: Split, now: datetime) -> bool | None:
    """Whether a condition split's conditions hold for the person now; None when they could
    not be checked (a segment it names is broken)."""
    try:
        with transaction.atomic():
            if step.condition.conditions:
                inside = (
                    Profile.objects.filter(pk=enrollment.profile_id)
                    .filter(segment_q(step.condition, now=now))
                    .exists()
                )
                if not inside:
                    return False
            if step.did is not None:
                events = Event.objects.filter(
                    profile_id=enrollment.profile_id,
                    timestamp__gte=enrollment.trigger_at,
                    timestamp__lte=now,
                )
                if enrollment.event_id is not None:
                    events = events.exclude(pk=enrollment.event_id)
                return selector_events(events, step.did.activity, step.did.where).exists()
    except Exception:
        logger.exception("journey condition failed enrollment_id=%s", enrollment.pk)
        return None
    return True


def random_branch(enrollment_id: int, step: RandomSplit) -> Any:
    """Deterministic: the same enrollment always takes the same branch of a split."""
    digest = hashlib.sha256(f"journey-split:{step.id}:{enrollment_id}".encode()).digest()
    point = int.from_bytes(digest[:4], "big") % 100
    total = 0
    for branch in step.branches:
        total += branch.percent
        if point < total:
            return branch
    return step.branches[-1]


def _update_profile(enrollment: Enrollment, step: Update, now: datetime) -> None:
    profile = enrollment.profile
    actor = Actor.system(f"journey “{enrollment.campaign.name}”")
    if step.traits:
        traits = profile.traits if isinstance(profile.traits, dict) else {}
        times = profile.trait_times if isinstance(profile.trait_times, dict) else {}
        for name, value in step.traits:
            traits[name] = value
            times[name] = now.isoformat()
        profile.traits, profile.trait_times = traits, times
        profile.save(update_fields=["traits", "trait_times"])
    if step.note.strip():
        ProfileNote.objects.create(profile=profile, body=step.note.strip()[:5000], created_at=now)
    audit_write(
        actor=actor,
        action="journey.profile_update",
        obj=profile,
        summary=f"Step “{step.id}” of journey #{enrollment.campaign_id} on profile #{profile.pk}",
    )


def _send(
    enrollment: Enrollment, step: Send, now: datetime, facts: _Facts | None
) -> _Hold | _Next | _End:
    campaign, profile = enrollment.campaign, enrollment.profile
    blocker = next(_blockers(enrollment, step, now, exits=False, facts=facts), None)
    if blocker is not None and blocker.hold_until is not None:
        return _Hold(blocker.hold_until, "held")
    if blocker is not None:
        if blocker.state == State.EXITED:
            return _End(State.EXITED, blocker.reason, Outcome.EXITED)
        return _Next(Outcome.SUPPRESSED, blocker.reason, step.next)
    message = message_build(campaign, profile, send=step, enrollment=enrollment, now=now)
    if facts is None:
        message.save()
    else:
        facts.writes.messages.append(message)
    if facts is not None and message.status != Message.Status.FAILED:
        facts.recent.setdefault(profile.pk, []).append((campaign.pk, step.transactional, now))
    if message.status == Message.Status.FAILED:
        return _Next(Outcome.FAILED, message.error, step.next)
    return _Next(Outcome.SENT, "", step.next)


@dataclass(frozen=True)
class Blocker:
    """Why a due send is not sent now: it ends in `state` with `reason`, or, for quiet
    hours, waits until `hold_until`."""

    state: str
    reason: str
    hold_until: datetime | None = None


def _blockers(
    enrollment: Enrollment,
    send: Send,
    now: datetime,
    *,
    exits: bool = True,
    facts: _Facts | None = None,
) -> Iterator[Blocker]:
    """The rules a due send is checked against, in the engine's order. Lazy: sending stops
    at the first, the preview lists them all."""
    campaign = enrollment.campaign
    profile = enrollment.profile
    if exits and (exit_reason := _exit_reason(enrollment, journey_of(campaign), now)):
        yield Blocker(State.EXITED, exit_reason)
    if campaign.is_journey and send.items == "cart":
        cart = content.cart_of(profile, cart_id=enrollment.cart_id, until=now)
        if not cart["lines"]:
            yield Blocker(State.SUPPRESSED, Reason.CART_EMPTY)
    if send.channel == "email":
        if not profile.email:
            yield Blocker(State.SUPPRESSED, Reason.NO_EMAIL)
        elif bounced := (
            suppression_reason(
                facts.suppressions.get(profile.email.strip().lower()),
                transactional=send.transactional,
            )
            if facts is not None
            else email_suppression_reason(profile.email, transactional=send.transactional)
        ):
            yield Blocker(State.SUPPRESSED, bounced)
    if not send.transactional and profile.email_consent != Consent.GRANTED:
        yield Blocker(State.SUPPRESSED, Reason.NO_CONSENT)
    if audience_reason := _audience_reason(campaign, profile):
        yield Blocker(State.SUPPRESSED, audience_reason)
    if not send.transactional:
        if (quiet_until := quiet_hours_end(campaign, profile, now)) is not None:
            local = timezone.localtime(quiet_until, zone_of(campaign, profile))
            yield Blocker("held", f"quiet hours: it would be held until {local:%H:%M}", quiet_until)
        if cap_reason := _cap_reason(campaign, profile, now, facts):
            yield Blocker(State.SUPPRESSED, cap_reason)


def _exit_reason(enrollment: Enrollment, journey: Journey, now: datetime) -> str:
    campaign = enrollment.campaign
    for selector in journey.exit_on:
        events = Event.objects.filter(
            profile_id=enrollment.profile_id,
            timestamp__gte=enrollment.trigger_at,
            timestamp__lte=now,
        )
        if isinstance(selector, ActivityRole):
            names = content.role_names([selector.role])
            if names and events.filter(type="track", name__in=names).exists():
                return Reason.exited(selector.role)
        elif selector_events(events, selector).exists():
            return f"converted: {activity_words(selector).lower()}"
    if campaign.kind == Campaign.Kind.ABANDONED_CART:
        cart = content.cart_of(enrollment.profile, cart_id=enrollment.cart_id, until=now)
        if not cart["lines"]:
            return Reason.CART_EMPTY
    if campaign.kind == Campaign.Kind.ABANDONED_BROWSE:
        # A cart reminder waiting, or sent since this person browsed, says it better.
        waiting = Enrollment.objects.filter(
            Q(state__in=[State.PENDING, State.SENDING])
            | Q(state=State.SENT, updated_at__gte=enrollment.trigger_at),
            profile_id=enrollment.profile_id,
            campaign__kind=Campaign.Kind.ABANDONED_CART,
            campaign__status=Campaign.Status.ACTIVE,
        )
        if waiting.exists():
            return Reason.CART_PENDING
    return ""


def _audience_reason(campaign: Campaign, profile: Profile) -> str:
    if campaign.audience is None:
        return ""
    try:
        with transaction.atomic():
            inside = (
                Profile.objects.filter(pk=profile.pk)
                .filter(segment_q(campaign.audience.definition))
                .exists()
            )
    except Exception:
        logger.exception("campaign audience check failed campaign_id=%s", campaign.pk)
        return Reason.AUDIENCE_BROKEN
    return "" if inside else Reason.NOT_IN_AUDIENCE


def _cap_reason(
    campaign: Campaign, profile: Profile, now: datetime, facts: _Facts | None = None
) -> str:
    if facts is not None:
        mine = facts.recent.get(profile.pk, [])
        campaign_count = sum(
            1
            for campaign_id, _, at in mine
            if campaign_id == campaign.pk and at > now - timedelta(hours=campaign.cap_hours)
        )
        marketing_count = sum(
            1 for _, transactional, at in mine if not transactional and at > now - timedelta(days=1)
        )
    else:
        messages = Message.objects.filter(profile=profile).exclude(status=Message.Status.FAILED)
        campaign_count = messages.filter(
            campaign=campaign, created_at__gt=now - timedelta(hours=campaign.cap_hours)
        ).count()
        marketing_count = messages.filter(
            transactional=False, created_at__gt=now - timedelta(days=1)
        ).count()
    if campaign.cap_count and campaign_count >= campaign.cap_count:
        return Reason.CAPPED
    per_day = settings.CAMPAIGNS_MARKETING_CAP_PER_DAY
    if per_day and marketing_count >= per_day:
        return Reason.CAPPED_MARKETING
    return ""


def zone_of(campaign: Campaign, profile: Profile) -> zoneinfo.ZoneInfo:
    """The time zone quiet hours are read in: the person's `timezone` trait, else the
    site's TIME_ZONE."""
    if campaign.quiet_in_profile_zone:
        return person_zone(profile)
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def quiet_hours_end(campaign: Campaign, profile: Profile, now: datetime) -> datetime | None:
    """When the quiet hours `now` falls in end, or None outside them."""
    start, end = campaign.quiet_start, campaign.quiet_end
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone_of(campaign, profile))
    current = local.time()
    if start < end:
        inside = start <= current < end
        end_day = local.date()
    else:  # across midnight, 21:00 to 08:00
        inside = current >= start or current < end
        end_day = local.date() + timedelta(days=1) if current >= start else local.date()
    if not inside:
        return None
    ends = datetime.combine(end_day, end, tzinfo=local.tzinfo)
    return ends.astimezone(zoneinfo.ZoneInfo("UTC"))


def in_control_group(enrollment: Enrollment, percent: int) -> bool:
    """Whether an entry is held out as the control group. Decided at entry, before the first
    step, from what names the entry (journey, person, entry key and trigger time), so the
    same entry always draws the same, before or after it is saved."""
    if percent <= 0:
        return False
    name = (
        f"campaign-control:{enrollment.campaign_id}:{enrollment.profile_id}:"
        f"{enrollment.key}:{enrollment.trigger_at.isoformat()}"
    )
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def control_hold_out(enrollment: Enrollment, campaign: Campaign) -> Enrollment:
    """A new entry, held out at entry when it draws the control group: it runs no step and
    gets no message, and the journey's goal is measured against it."""
    if in_control_group(enrollment, campaign.control_percent):
        enrollment.state = State.CONTROL
        enrollment.reason = Reason.CONTROL
    return enrollment


# --- Messages ----------------------------------------------------------------------------------


def unsubscribe_token(message_key: str) -> str:
    """A signed token naming the message (by its random idempotency key) the link is in.

    The key is 128 random bits, not a profile id or an address: a token for someone else
    cannot be made by counting, and without SECRET_KEY none can be made at all. The message
    leads to its person (messages follow merges), and the consent record names it."""
    return signing.dumps({"m": message_key}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(message_key: str) -> str:
    token = unsubscribe_token(message_key)
    return settings.CAMPAIGNS_SITE_URL.rstrip("/") + _unsubscribe_path().replace("TOKEN", token)


def _unsubscribe_path() -> str:
    """The unsubscribe page's path with `TOKEN` where the token goes."""
    try:
        return reverse("campaign-unsubscribe", args=["TOKEN"])
    except NoReverseMatch:
        return "/campaigns/unsubscribe/TOKEN/"


def first_send(campaign: Campaign) -> Send:
    """The send step a campaign's preview and test send render: a built-in's one, a
    journey's first."""
    try:
        sends = journey_of(campaign).sends()
    except JourneyError:
        sends = []
    return sends[0] if sends else Send("send")


def message_build(
    campaign: Campaign,
    profile: Profile,
    *,
    send: Send | None = None,
    enrollment: Enrollment | None = None,
    trigger: dict[str, Any] | None = None,
    recipient: str = "",
    now: datetime | None = None,
) -> Message:
    """Render a send step's message for a person (unsaved). A template that fails gives a
    message with status failed and the error; nothing is raised."""
    now = now or timezone.now()
    send = send or first_send(campaign)
    key = uuid.uuid4().hex
    marketing = not send.transactional
    unsubscribe = unsubscribe_url(key) if marketing else ""
    if send.channel == "webhook":
        recipient = send.webhook_url
    message = Message(
        enrollment=enrollment,
        node=send.id if enrollment is not None else "",
        campaign=campaign,
        profile=profile,
        channel=send.channel,
        recipient=recipient or profile.email,
        sender=channels.sender_of(send.sender_name, send.sender_email),
        transactional=send.transactional,
        idempotency_key=key,
        next_attempt_at=now,
        created_at=now,
    )
    domain = (settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost").strip(">")
    headers = {"Message-ID": f"<{key}@{domain}>", "X-Idempotency-Key": key}
    if marketing:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.headers = headers
    try:
        context = content.message_context(
            campaign=campaign,
            profile=profile,
            trigger=trigger if trigger is not None else (enrollment.trigger if enrollment else {}),
            items=send.items,
            cart_id=enrollment.cart_id if enrollment else "",
            unsubscribe_url=unsubscribe,
            now=now,
        )
        message.subject = " ".join(rendering.render(send.subject, context).split())
        message.html = rendering.render(send.html, context, html=True)
        message.text = rendering.render(send.text, context)
    except rendering.TemplateError as exc:
        message.status = Message.Status.FAILED
        message.error = f"template error: {exc}"
        message.next_attempt_at = None
    return message


def _backoff(attempts: int) -> timedelta:
    base = float(settings.CAMPAIGNS_RETRY_SECONDS)
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 6 * 3600))


def messages_deliver(*, result: RunResult | None = None, limit: int = CLAIM_BATCH) -> RunResult:
    """Call the channel for claimed messages whose time came, each once per lease.

    A short transaction takes the message (SKIP LOCKED), counts the attempt and moves its
    next attempt to after the backoff: that is the lease no other worker takes it under.
    The channel is called after commit; success marks it sent. A crash between the
    channel's accept and our commit sends it again after the lease (at-least-once in that
    window only), with the same idempotency key."""
    result = result or RunResult()
    now = timezone.now()
    with transaction.atomic():
        taken = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("campaign")
            .filter(status=Message.Status.CLAIMED, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")[:limit]
        )
        for message in taken:
            message.attempts += 1
            message.next_attempt_at = now + _backoff(message.attempts)
        rows_update(Message, taken, ["attempts", "next_attempt_at"])
    _deliver_taken(taken, result)
    return result


def _deliver_taken(taken: list[Message], result: RunResult) -> None:
    """Hand leased messages to their channel, after the transaction that leased them."""
    sent: list[Message] = []
    flushed = time_monotonic()
    for message in taken:
        if _deliver_one(message, result):
            sent.append(message)
        # Recorded as sent in small groups: one statement for the messages and one for the
        # enrollments that ended at them, while a crash re-sends (with the same keys) only
        # what the last fraction of a second handed over.
        if len(sent) >= SENT_FLUSH_COUNT or time_monotonic() - flushed > SENT_FLUSH_SECONDS:
            _mark_sent(sent, result)
            sent, flushed = [], time_monotonic()
    _mark_sent(sent, result)


def _mark_sent(sent: list[Message], result: RunResult) -> None:
    if not sent:
        return
    sent_at = timezone.now()
    with transaction.atomic():
        Message.objects.filter(pk__in=[m.pk for m in sent]).update(
            status=Message.Status.SENT, sent_at=sent_at, error="", next_attempt_at=None
        )
        Enrollment.objects.filter(
            pk__in=[m.enrollment_id for m in sent if m.enrollment_id], state=State.SENDING
        ).update(state=State.SENT, reason="", updated_at=sent_at)
    result.sent += len(sent)


def _deliver_one(message: Message, result: RunResult) -> bool:
    """Call the channel for one message: True when it took it; a failure is recorded here
    (retried after the lease, or failed for good)."""
    try:
        channels.deliver(message)
    except channels.ChannelError as exc:
        final = message.attempts >= settings.CAMPAIGNS_MAX_ATTEMPTS
        error = str(exc)[:2000]
        with transaction.atomic():
            if final:
                Message.objects.filter(pk=message.pk).update(
                    status=Message.Status.FAILED, error=error, next_attempt_at=None
                )
                if message.enrollment_id:
                    # An enrollment that ended at this send ends failed; one that went on
                    # keeps going (the step's message shows the failure).
                    Enrollment.objects.filter(pk=message.enrollment_id, state=State.SENDING).update(
                        state=State.FAILED, reason=error[:500], updated_at=timezone.now()
                    )
            else:
                Message.objects.filter(pk=message.pk).update(error=error)
        logger.warning(
            "campaign message failed message_id=%s attempt=%s final=%s: %s",
            message.pk,
            message.attempts,
            final,
            error,
        )
        if final:
            result.failed += 1
        else:
            result.retried += 1
        return False
    return True


def _latest_trigger(campaign: Campaign, profile: Profile) -> Event | None:
    """The person's latest event of the journey's trigger activity, if it has one."""
    try:
        trigger = journey_of(campaign).trigger
    except JourneyError:
        return None
    if not isinstance(trigger, ActivityTrigger):
        return None
    events = Event.objects.filter(profile=profile)
    if isinstance(trigger.activity, ActivityRole):
        events = events.filter(type="track", name__in=content.role_names([trigger.activity.role]))
    else:
        events = selector_events(events, trigger.activity)
    return events.order_by("-timestamp").first()


def campaign_preview_blockers(campaign: Campaign, profile: Profile) -> list[str]:
    """What would keep this person from getting the campaign's (first) message now, in the
    engine's words and with its own checks, as if their latest trigger event were due now:
    for the preview, which renders the message whatever they say."""
    now = timezone.now()
    latest = _latest_trigger(campaign, profile)
    due = Enrollment(
        campaign=campaign,
        profile=profile,
        trigger_at=latest.timestamp if latest is not None else now,
        cart_id=content.cart_id_of(latest.properties) if latest is not None else "",
        due_at=now,
    )
    return [blocker.reason for blocker in _blockers(due, first_send(campaign), now)]


def campaign_preview(
    campaign: Campaign,
    profile: Profile,
    *,
    trigger: dict[str, Any] | None = None,
    send: Send | None = None,
) -> Message:
    """The message a person would get now, rendered and not saved: for the editor. Without a
    trigger, the person's latest event of the journey's trigger activity is used."""
    if trigger is None:
        trigger = {}
        event = _latest_trigger(campaign, profile)
        if event is not None:
            trigger = {
                "name": event.name,
                "at": event.timestamp.isoformat(),
                "properties": event.properties,
            }
    return message_build(campaign, profile, send=send, trigger=trigger)
