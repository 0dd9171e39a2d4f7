"""The dry run: a campaign replayed over the last N days of real events, before a marketer
activates it or after they change it.

The replay runs the engine's own code, so its answer follows the same rules in the same
order as the real thing (docs/campaigns.md, "The rules"): the engine's exits
(`engine._exits`), its re-entry rule (`engine._waiting_profiles`, and the database's
once-per-person constraint) and, for each enrollment at its due time, its whole decision
(`engine.enrollment_advance`: exits, consent, audience, quiet hours, caps, control group,
rendering). Those write enrollments and messages, so the replay works on a throwaway active
copy of the campaign inside one transaction that is always
rolled back: nothing is recorded and, since the channels are never called, nothing is sent.

Time is the events' own: each trigger enrolls at its timestamp, each exit event exits at its
timestamp, and each enrollment is decided at its due time (a message held for quiet hours is
decided again when they end). What is still waiting at the end is reported as waiting.

Bounds: at most MAX_DAYS days, MAX_EVENTS events, MAX_ENROLLMENTS enrollments, a statement
timeout and a wall-clock limit; a replay that stops early says where.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from campaigns import content, engine
from campaigns.journeys.definition import (
    STEP_TYPES,
    ActivityTrigger,
    JourneyError,
    journey_parse,
    journey_walk,
    step_type,
)
from campaigns.journeys.words import activity_words
from campaigns.models import Campaign, Enrollment, JourneyVersion, Message, StepRun
from cdp_project.core.db import statement_timeout_set
from ingestion.models import Event
from profiles.computed.activities import ActivityMeanings, activity_meanings
from profiles.models import Profile
from segments.tree import ActivityName, ActivityRole

DEFAULT_DAYS = 7
MAX_DAYS = 30
MAX_EVENTS = 200_000
MAX_ENROLLMENTS = 2_000
MAX_SECONDS = 20.0
STATEMENT_TIMEOUT_MS = 10_000
SAMPLE_SIZE = 10
NOT_SENT_SHOWN = 200

State = Enrollment.State


class _Rollback(Exception):
    """Raised to roll the replay's transaction back, carrying its result out."""

    def __init__(self, result: DryRun) -> None:
        self.result = result


@dataclass
class SampleMessage:
    """A message the replay would have sent: who to, when, and what it said."""

    profile_id: int
    person: str
    recipient: str
    at: datetime
    subject: str
    text: str


@dataclass
class StepCount:
    """What the replay did at one step: how each person left it, and who still waits."""

    step: str
    label: str
    depth: int
    branch: str
    outcomes: list[tuple[str, int]]
    waiting: int


@dataclass
class NotSent:
    """A person the replay would not have sent a message, and why."""

    profile_id: int
    person: str
    state: str
    reason: str


@dataclass
class DryRun:
    """What a campaign would have done over the replayed days."""

    days: int
    since: datetime
    until: datetime
    events: int = 0
    entered: int = 0
    people: int = 0
    sent: int = 0
    exited: int = 0
    suppressed: int = 0
    control: int = 0
    failed: int = 0
    waiting: int = 0
    # Times a message due in quiet hours was held until they ended (then decided again).
    held: int = 0
    # (reason, count), most frequent first.
    exited_reasons: list[tuple[str, int]] = field(default_factory=list)
    suppressed_reasons: list[tuple[str, int]] = field(default_factory=list)
    failed_reasons: list[tuple[str, int]] = field(default_factory=list)
    samples: list[SampleMessage] = field(default_factory=list)
    # Step by step, in the order the journey is drawn.
    steps: list[StepCount] = field(default_factory=list)
    # Everyone who got no message, with the reason (the first NOT_SENT_SHOWN).
    not_sent: list[NotSent] = field(default_factory=list)
    # Set when a bound stopped the replay: the events up to `stopped_at` were replayed.
    stopped: str = ""
    stopped_at: datetime | None = None
    error: str = ""


def _replayed_definition(campaign: Campaign) -> dict[str, Any]:
    """What a journey's dry run replays: its draft when the draft can run, else its live
    version. Raises JourneyError when neither can."""
    try:
        journey_parse(campaign.draft)
        return dict(campaign.draft)
    except JourneyError:
        if campaign.version is None:
            raise
        return dict(campaign.version.definition)


def days_clean(value: object) -> int:
    """The number of days a marketer asked for, as a whole number from 1 to MAX_DAYS;
    raises ValueError with the reason otherwise."""
    try:
        days = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError("Give the number of days as a whole number.") from None
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"Replay between 1 and {MAX_DAYS} days.")
    return days


def campaign_dry_run(
    *,
    campaign: Campaign,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
    max_events: int = MAX_EVENTS,
    max_enrollments: int = MAX_ENROLLMENTS,
    max_seconds: float = MAX_SECONDS,
) -> DryRun:
    """Replay `campaign` over the `days` days before `now`; nothing is recorded or sent."""
    days = max(1, min(days, MAX_DAYS))
    now = now or timezone.now()
    result = DryRun(days=days, since=now - timedelta(days=days), until=now)
    try:
        with transaction.atomic():
            # Undone with the transaction (or its savepoint), like everything else here.
            statement_timeout_set(STATEMENT_TIMEOUT_MS)
            _Replay(campaign, result, max_events, max_enrollments, max_seconds).run()
            raise _Rollback(result)
    except _Rollback as rollback:
        return rollback.result
    except JourneyError as error:
        return DryRun(
            days=days,
            since=result.since,
            until=now,
            error=f"The journey cannot run yet: {error}",
        )
    except DatabaseError:
        return DryRun(
            days=days,
            since=result.since,
            until=now,
            error="The replay took too long or could not read the events; try fewer days.",
        )


class _Replay:
    def __init__(
        self,
        campaign: Campaign,
        result: DryRun,
        max_events: int,
        max_enrollments: int,
        max_seconds: float,
    ) -> None:
        self.result = result
        self.max_events = max_events
        self.max_enrollments = max_enrollments
        self.deadline = time.monotonic() + max_seconds
        # The throwaway copy: active, with none of the real campaign's enrollments and
        # messages, so the re-entry rule, order ids and the campaign's cap start clean. A
        # journey replays its draft when the draft can run, else its live version.
        copy = Campaign.objects.select_related("audience", "version").get(pk=campaign.pk)
        copy.pk = None
        copy.status = Campaign.Status.ACTIVE
        copy.version = None
        copy.save()
        if campaign.is_journey:
            definition = _replayed_definition(campaign)
            copy.version = JourneyVersion.objects.create(
                campaign=copy, number=1, definition=definition
            )
            copy.save(update_fields=["version"])
        self.campaign = copy
        self.journey = engine.journey_of(copy)
        self.max_age = timedelta(hours=float(settings.CAMPAIGNS_MAX_EVENT_AGE_HOURS))
        self.due: list[tuple[datetime, int, Enrollment]] = []
        self.order = itertools.count()
        # People with an enrollment not decided yet: only their exit events matter.
        self.undecided: dict[int, int] = {}
        self.profiles: dict[int, Profile] = {}
        self.keys: set[str] = set()

    # --- the timeline ---------------------------------------------------------------------

    def run(self) -> None:
        result = self.result
        trigger = self.journey.trigger
        if not isinstance(trigger, ActivityTrigger):
            result.error = (
                "A dry run replays past events, so it runs journeys that start on an activity; "
                "this one starts on a segment, a date or a broadcast."
            )
            return
        waits = [step.activity for step in self.journey.waits_for()]
        selectors = [trigger.activity, *self.journey.exit_on, *waits]
        names: set[str] = set()
        kinds: set[str] = set()
        for selector in selectors:
            match selector:
                case ActivityRole(role=role):
                    names |= content.role_names([role])
                case ActivityName(kind="track", name=name):
                    names.add(name)
                case ActivityName(kind=kind):
                    kinds.add(kind)
        if not names and not kinds:
            return
        meanings = activity_meanings(
            [Event(type="track", name=name) for name in names]
            + [Event(type=kind, name="") for kind in kinds]
        )
        window = Event.objects.filter(
            profile_id__isnull=False, timestamp__gte=result.since, timestamp__lte=result.until
        )
        passing: set[int] | None = None
        if trigger.where or trigger.sources:
            passing = set(
                engine.selector_events(
                    window, trigger.activity, trigger.where, trigger.sources
                ).values_list("pk", flat=True)[: self.max_events + 1]
            )
        events = (
            window.filter(Q(type="track", name__in=sorted(names)) | Q(type__in=sorted(kinds)))
            .only(
                "id",
                "profile_id",
                "type",
                "name",
                "timestamp",
                "received_at",
                "properties",
                "message_id",
            )
            .order_by("timestamp", "id")
        )
        for event in events[: self.max_events + 1].iterator(chunk_size=2_000):
            if result.events >= self.max_events:
                self._stop(f"only the first {self.max_events:,} events were replayed", event)
                break
            if self._out_of_time(event.timestamp):
                break
            result.events += 1
            self._decide_due(until=event.timestamp)
            if result.stopped:
                break
            profile_id = engine.profile_of(event)
            if self.undecided.get(profile_id):
                self._exit_and_wake(event, meanings)
            if engine.selector_matches(trigger.activity, event, meanings) and (
                passing is None or event.pk in passing
            ):
                if result.entered >= self.max_enrollments:
                    self._stop(f"it stopped after {self.max_enrollments:,} entries", event)
                    break
                self._enroll(event, trigger)
        if not result.stopped:
            self._decide_due(until=result.until)
        self._count()

    def _exit_and_wake(self, event: Event, meanings: ActivityMeanings) -> None:
        """The engine's exits and wake-ups for one event of a person with an enrollment
        not decided yet, at the event's time."""
        for selector in self.journey.exit_on:
            if engine.selector_matches(selector, event, meanings):
                label = (
                    engine.Reason.exited(selector.role)
                    if isinstance(selector, ActivityRole)
                    else f"converted: {activity_words(selector).lower()}"
                )
                engine._exits(self.campaign, [(event, label)])
                break
        if self.journey.waits_for():
            woken = engine._wake_waiting(
                [event], meanings, now=event.timestamp, campaign=self.campaign
            )
            for enrollment in Enrollment.objects.filter(pk__in=woken).select_related(
                "campaign", "profile", "version"
            ):
                heapq.heappush(self.due, (event.timestamp, next(self.order), enrollment))

    def _stop(self, why: str, event: Event | None = None) -> None:
        self.result.stopped = why
        self.result.stopped_at = event.timestamp if event is not None else None

    def _out_of_time(self, at: datetime) -> bool:
        if time.monotonic() <= self.deadline:
            return False
        self.result.stopped = "it ran out of time"
        self.result.stopped_at = at
        return True

    # --- entering (the engine's `_enrollments`, one event at a time) ------------------------

    def _enroll(self, event: Event, trigger: ActivityTrigger) -> None:
        campaign = self.campaign
        # Stored more than the maximum age after it happened: it would never have triggered.
        if event.timestamp < event.received_at - self.max_age:
            return
        profile_id = engine.profile_of(event)
        key = engine.entry_key(trigger, event)
        if key:
            if key in self.keys:
                return  # one enrollment per key
            self.keys.add(key)
        elif self._kept_out(profile_id, event.timestamp):
            return
        if campaign.is_journey and not engine.audience_members(campaign, {profile_id}):
            return
        profile = self._profile(profile_id)
        if profile is None:
            return
        due = engine.first_due(
            self.journey, event.timestamp, max(event.timestamp, event.received_at)
        )
        enrollment = engine.enrollment_for_event(
            campaign, self.journey, event, key=key, due=due, at=event.timestamp
        )
        enrollment.profile = profile
        try:
            with transaction.atomic():
                enrollment.save()
        except IntegrityError:  # entered before, and the campaign takes a person once
            return
        self.result.entered += 1
        self.undecided[profile_id] = self.undecided.get(profile_id, 0) + 1
        heapq.heappush(self.due, (due, next(self.order), enrollment))

    def _kept_out(self, profile_id: int, at: datetime) -> bool:
        """The journey's re-entry rule, as the engine applies it."""
        campaign = self.campaign
        if campaign.reentry == Campaign.Reentry.WHILE_PENDING:
            return bool(engine._waiting_profiles(campaign, {profile_id}))
        if campaign.reentry == Campaign.Reentry.PER_DAYS:
            return bool(engine._recently_entered(campaign, {profile_id}, at))
        return False

    def _profile(self, profile_id: int) -> Profile | None:
        if profile_id not in self.profiles:
            found = Profile.objects.filter(pk=profile_id).first()
            if found is None:
                return None
            self.profiles[profile_id] = found
        return self.profiles[profile_id]

    # --- deciding (the engine's `enrollment_advance`, at each due time) ----------------------

    def _decide_due(self, *, until: datetime) -> None:
        while self.due and self.due[0][0] <= until:
            if self._out_of_time(self.due[0][0]):
                return
            due, _, enrollment = heapq.heappop(self.due)
            enrollment.refresh_from_db(fields=["state", "reason", "due_at", "node", "step_at"])
            if enrollment.state != State.PENDING:
                self._decided(enrollment)
                continue
            outcome = engine.enrollment_advance(enrollment, due)
            if outcome in ("held", "waiting"):
                if outcome == "held":
                    self.result.held += 1
                heapq.heappush(self.due, (enrollment.due_at, next(self.order), enrollment))
                continue
            self._decided(enrollment)
            if outcome == "claimed" and len(self.result.samples) < SAMPLE_SIZE:
                self._sample(enrollment, due)

    def _decided(self, enrollment: Enrollment) -> None:
        left = self.undecided.get(enrollment.profile_id, 0) - 1
        if left > 0:
            self.undecided[enrollment.profile_id] = left
        else:
            self.undecided.pop(enrollment.profile_id, None)

    def _sample(self, enrollment: Enrollment, at: datetime) -> None:
        message = Message.objects.filter(enrollment=enrollment).order_by("-id").first()
        if message is None:
            return
        self.result.samples.append(
            SampleMessage(
                profile_id=enrollment.profile_id,
                person=enrollment.profile.label,
                recipient=message.recipient,
                at=at,
                subject=message.subject,
                text=message.text,
            )
        )

    # --- the result -------------------------------------------------------------------------

    def _count(self) -> None:
        """What became of the copy's enrollments: one grouped query, before the rollback."""
        result = self.result
        enrollments = Enrollment.objects.filter(campaign=self.campaign)
        result.people = enrollments.values("profile_id").distinct().count()
        reasons: dict[str, dict[str, int]] = {
            State.SUPPRESSED: {},
            State.EXITED: {},
            State.FAILED: {},
        }
        rows = enrollments.values("state", "reason").annotate(n=Count("id")).order_by()
        for row in rows:
            state, n = row["state"], row["n"]
            if state in (State.SENDING, State.SENT):
                result.sent += n
            elif state == State.PENDING:
                result.waiting += n
            elif state == State.EXITED:
                result.exited += n
            elif state == State.SUPPRESSED:
                result.suppressed += n
            elif state == State.CONTROL:
                result.control += n
            elif state == State.FAILED:
                result.failed += n
            if state in reasons:
                reason = row["reason"] or "no reason recorded"
                reasons[state][reason] = reasons[state].get(reason, 0) + n

        def ranked(found: dict[str, int]) -> list[tuple[str, int]]:
            return sorted(found.items(), key=lambda item: (-item[1], item[0]))

        self._count_steps()
        self._count_not_sent()
        result.exited_reasons = ranked(reasons[State.EXITED])
        result.suppressed_reasons = ranked(reasons[State.SUPPRESSED])
        result.failed_reasons = ranked(reasons[State.FAILED])

    def _count_steps(self) -> None:
        runs: dict[str, dict[str, int]] = {}
        rows = (
            StepRun.objects.filter(campaign=self.campaign)
            .values("node", "outcome", "detail")
            .annotate(n=Count("id"))
            .order_by()
        )
        labels = dict(StepRun.Outcome.choices)
        for row in rows:
            outcome = labels.get(row["outcome"], row["outcome"])
            if row["outcome"] == StepRun.Outcome.BRANCH and row["detail"]:
                outcome = f"branch {row['detail']}"
            found = runs.setdefault(row["node"], {})
            found[outcome] = found.get(outcome, 0) + row["n"]
        waiting = dict(
            Enrollment.objects.filter(campaign=self.campaign, state=State.PENDING)
            .values_list("node")
            .annotate(n=Count("id"))
            .order_by()
        )
        self.result.steps = [
            StepCount(
                step=step.id,
                label=STEP_TYPES[step_type(step)],
                depth=depth,
                branch=branch,
                outcomes=sorted(runs.get(step.id, {}).items(), key=lambda item: -item[1]),
                waiting=waiting.get(step.id, 0),
            )
            for depth, branch, step in journey_walk(self.journey)
        ]

    def _count_not_sent(self) -> None:
        """Everyone the replay would not have sent anything, with the reason: the
        enrollment's own, else the last step's that stopped a message."""
        sent = Message.objects.filter(enrollment__campaign=self.campaign).values("enrollment_id")
        enrollments = (
            Enrollment.objects.filter(campaign=self.campaign)
            .exclude(pk__in=sent)
            .exclude(state=State.PENDING)
            .select_related("profile")
            .order_by("trigger_at", "id")[:NOT_SENT_SHOWN]
        )
        for enrollment in enrollments:
            reason = enrollment.reason
            if not reason:
                last = (
                    StepRun.objects.filter(enrollment=enrollment)
                    .exclude(detail="")
                    .order_by("-id")
                    .values_list("detail", flat=True)
                    .first()
                )
                reason = last or "the path it took has no message"
            self.result.not_sent.append(
                NotSent(
                    profile_id=enrollment.profile_id,
                    person=enrollment.profile.label,
                    state=enrollment.get_state_display(),
                    reason=reason,
                )
            )
