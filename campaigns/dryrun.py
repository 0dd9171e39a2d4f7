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

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from campaigns import content, engine
from campaigns.models import Campaign, Enrollment, Message
from cdp_project.core.db import statement_timeout_set
from ingestion.models import CommerceRole, Event
from profiles.models import Profile

DEFAULT_DAYS = 7
MAX_DAYS = 30
MAX_EVENTS = 200_000
MAX_ENROLLMENTS = 2_000
MAX_SECONDS = 20.0
STATEMENT_TIMEOUT_MS = 10_000
SAMPLE_SIZE = 10

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
    # Set when a bound stopped the replay: the events up to `stopped_at` were replayed.
    stopped: str = ""
    stopped_at: datetime | None = None
    error: str = ""


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
        # messages, so the re-entry rule, order ids and the campaign's cap start clean.
        copy = Campaign.objects.select_related("audience").get(pk=campaign.pk)
        copy.pk = None
        copy.status = Campaign.Status.ACTIVE
        copy.save()
        self.campaign = copy
        self.trigger_role = copy.trigger_role
        self.exit_roles = set(copy.exit_roles or [])
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
        roles = {self.trigger_role, *self.exit_roles}
        role_of: dict[str, str] = {}
        for role in roles:
            for name in content.role_names([role]):
                # A name that both triggers and exits is read as the trigger.
                if role == self.trigger_role or name not in role_of:
                    role_of[name] = role
        if not role_of:
            return
        events = (
            Event.objects.filter(
                type="track",
                name__in=sorted(role_of),
                profile_id__isnull=False,
                timestamp__gte=result.since,
                timestamp__lte=result.until,
            )
            .only(
                "id", "profile_id", "name", "timestamp", "received_at", "properties", "message_id"
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
            role = role_of.get(event.name, "")
            if role in self.exit_roles and self.undecided.get(engine.profile_of(event)):
                engine._exits(self.campaign, [(event, engine.Reason.exited(role))])
            if role == self.trigger_role:
                if result.entered >= self.max_enrollments:
                    self._stop(f"it stopped after {self.max_enrollments:,} entries", event)
                    break
                self._enroll(event)
        if not result.stopped:
            self._decide_due(until=result.until)
        self._count()

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

    def _enroll(self, event: Event) -> None:
        campaign = self.campaign
        # Stored more than the maximum age after it happened: it would never have triggered.
        if event.timestamp < event.received_at - self.max_age:
            return
        properties = event.properties if isinstance(event.properties, dict) else {}
        key = ""
        if campaign.trigger_role == CommerceRole.ORDER_COMPLETED:
            key = (content.order_id_of(properties) or f"message:{event.message_id}")[:255]
            if key in self.keys:
                return  # one enrollment per order id
            self.keys.add(key)
        elif campaign.reentry == Campaign.Reentry.WHILE_PENDING and engine._waiting_profiles(
            campaign, {engine.profile_of(event)}
        ):
            return
        profile = self._profile(engine.profile_of(event))
        if profile is None:
            return
        due = event.timestamp + timedelta(seconds=campaign.wait_seconds)
        if campaign.wait_seconds == 0:
            due = max(due, event.received_at)
        cart_id = properties.get("cart_id")
        enrollment = Enrollment(
            campaign=campaign,
            profile=profile,
            event_id=event.pk,
            trigger={
                "name": event.name,
                "at": event.timestamp.isoformat(),
                "properties": properties,
            },
            trigger_at=event.timestamp,
            key=key,
            cart_id=str(cart_id)[:255] if isinstance(cart_id, str | int) else "",
            due_at=due,
            created_at=event.timestamp,
            updated_at=event.timestamp,
            once=campaign.reentry == Campaign.Reentry.ONCE and not key,
        )
        try:
            with transaction.atomic():
                enrollment.save()
        except IntegrityError:  # entered before, and the campaign takes a person once
            return
        self.result.entered += 1
        profile_id = engine.profile_of(event)
        self.undecided[profile_id] = self.undecided.get(profile_id, 0) + 1
        heapq.heappush(self.due, (due, next(self.order), enrollment))

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
            enrollment.refresh_from_db(fields=["state", "reason", "due_at"])
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
        message = Message.objects.filter(enrollment=enrollment).first()
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

        result.exited_reasons = ranked(reasons[State.EXITED])
        result.suppressed_reasons = ranked(reasons[State.SUPPRESSED])
        result.failed_reasons = ranked(reasons[State.FAILED])
