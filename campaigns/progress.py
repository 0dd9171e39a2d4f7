"""Reads for seeing a journey work: the journey page's steps with their counts, the
enrollment list, and a person's journeys on their profile page.

Counts are grouped queries, whatever the number of people: the step runs by step and outcome
(`step_run_counts`), the people waiting by step (`enrollment_waiting_at`), and the people
who left at a step without a step run of it (an exit rule, a journey that cannot run). The
enrollment list pages with a keyset on (the sorted time, id); a person's journeys are three
queries for their latest enrollments, their step runs and their messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet

from campaigns import engine, stats
from campaigns.journeys.definition import (
    STEP_TYPES,
    BroadcastTrigger,
    Journey,
    JourneyError,
    SegmentTrigger,
    Send,
    Step,
    Trigger,
    Wait,
    WaitFor,
    step_exits,
    step_type,
)
from campaigns.journeys.words import activity_words, step_short, step_words, trigger_words
from campaigns.models import Campaign, Enrollment, JourneyVersion, Message, StepRun
from cdp_project.core.cursors import time_id_parse, time_id_token
from profiles.models import Profile
from segments.models import Segment

State = Enrollment.State
Outcome = StepRun.Outcome
ENROLLMENTS_PAGE_SIZE = 50
PROFILE_JOURNEYS = 20
TOP_REASONS = 5

# How each outcome counts at its step: went on (a way), not sent, or left the journey.
_NOT_SENT = (Outcome.SUPPRESSED, Outcome.FAILED, Outcome.CONTROL)
_WAY_OF: dict[str, str] = {
    Outcome.MATCHED: "yes",
    Outcome.TIMED_OUT: "timed out",
    Outcome.YES: "yes",
    Outcome.NO: "no",
}


# --- the journey page --------------------------------------------------------------------


@dataclass
class StepCounts:
    """What happened at one step, over the enrollments of the version shown."""

    entered: int = 0
    waiting: int = 0
    due_first: datetime | None = None
    due_last: datetime | None = None
    # By outcome (sent, updated, waited…), and by way out (branch label → people).
    outcomes: dict[str, int] = field(default_factory=dict)
    ways: dict[str, int] = field(default_factory=dict)
    not_sent: int = 0
    not_sent_reasons: list[tuple[str, int]] = field(default_factory=list)
    exited: int = 0
    exited_reasons: list[tuple[str, int]] = field(default_factory=list)
    # A send step's messages followed by the journey's goal (None: no goal to measure).
    converted: int | None = None

    @property
    def sent(self) -> int:
        return self.outcomes.get(Outcome.SENT, 0)

    @property
    def control(self) -> int:
        return self.outcomes.get(Outcome.CONTROL, 0)


@dataclass
class WayOut:
    """A branch under a step: its label, how many took it, and the steps down it."""

    label: str
    people: int
    steps: list[StepBox]


@dataclass
class StepBox:
    """One step as drawn: what it does, its counts, and the branches under it (when it has
    more than one way out; a single way continues the column)."""

    step: Step
    type_label: str
    words: str
    counts: StepCounts
    branches: list[WayOut] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.step.id

    @property
    def kind(self) -> str:
        return step_type(self.step)


@dataclass(frozen=True)
class VersionChoice:
    number: int | None  # None: the built-ins, which have no versions
    pk: int | None
    enrolled: int
    waiting: int
    live: bool


@dataclass
class JourneyProgress:
    journey: Journey
    trigger: str
    exit_on: list[str]
    goal: str
    steps: list[StepBox]
    version: JourneyVersion | None
    versions: list[VersionChoice]
    enrolled: int
    waiting: int


def journey_versions(*, campaign: Campaign) -> list[VersionChoice]:
    """The journey's versions, newest first, each with how many entered it and wait in it
    now: one grouped query."""
    counts: dict[int | None, tuple[int, int]] = {
        row["version_id"]: (row["n"], row["waiting"])
        for row in Enrollment.objects.filter(campaign=campaign)
        .values("version_id")
        .annotate(n=Count("id"), waiting=Count("id", filter=Q(state=State.PENDING)))
        .order_by()
    }
    if not campaign.is_journey:
        enrolled, waiting = counts.get(None, (0, 0))
        return [VersionChoice(None, None, enrolled, waiting, True)]
    choices = []
    for version in JourneyVersion.objects.filter(campaign=campaign).only("pk", "number"):
        enrolled, waiting = counts.get(version.pk, (0, 0))
        choices.append(
            VersionChoice(
                version.number, version.pk, enrolled, waiting, version.pk == campaign.version_id
            )
        )
    return choices


def _ranked(found: dict[str, int], top: int = TOP_REASONS) -> list[tuple[str, int]]:
    return sorted(found.items(), key=lambda item: (-item[1], item[0]))[:top]


def step_counts(
    *, campaign: Campaign, version: JourneyVersion | None, only_version: bool, start: str = ""
) -> dict[str, StepCounts]:
    """Counts by step id for the enrollments of `version` (a built-in's: all of them): four
    grouped queries, each served by an index of its own.

    `only_version` says the campaign's enrollments are all of that version, so the step
    runs need no join to their enrollment. Enrollments from before steps were recorded
    (no step) count at `start`."""
    enrollments = Enrollment.objects.filter(campaign=campaign)
    runs = StepRun.objects.filter(campaign=campaign)
    if campaign.is_journey:
        enrollments = enrollments.filter(version=version)
        if not only_version:
            runs = runs.filter(enrollment__version=version)
    counts: dict[str, StepCounts] = {}

    def at(node: str) -> StepCounts:
        return counts.setdefault(node or start, StepCounts())

    reasons: dict[tuple[str, str], dict[str, int]] = {}

    def add_reason(node: str, kind: str, reason: str, n: int) -> None:
        bucket = reasons.setdefault((node, kind), {})
        reason = reason or "no reason recorded"
        bucket[reason] = bucket.get(reason, 0) + n

    # Outcomes whose detail matters (a branch's label, why not sent) are grouped by it; the
    # rest are counted from `step_run_counts` alone (count(*): an index-only scan).
    detailed = [Outcome.BRANCH, Outcome.SUPPRESSED, Outcome.FAILED]
    for row in (
        runs.exclude(outcome__in=detailed).values("node", "outcome").annotate(n=Count("*"))
    ).order_by():
        _count_run(row["node"], at(row["node"]), row["outcome"], "", row["n"], add_reason)
    for row in (
        runs.filter(outcome__in=detailed)
        .values("node", "outcome", "detail")
        .annotate(n=Count("id"))
        .order_by()
    ):
        _count_run(
            row["node"], at(row["node"]), row["outcome"], row["detail"], row["n"], add_reason
        )
    for pending in (
        enrollments.filter(state=State.PENDING)
        .values("node")
        .annotate(n=Count("*"), first=Min("due_at"), last=Max("due_at"))
        .order_by()
    ):
        found = at(pending["node"])
        found.waiting += pending["n"]
        found.entered += pending["n"]
        firsts = [t for t in (found.due_first, pending["first"]) if t is not None]
        lasts = [t for t in (found.due_last, pending["last"]) if t is not None]
        found.due_first = min(firsts) if firsts else None
        found.due_last = max(lasts) if lasts else None
    # Everyone who left the journey, where and why (`enrollment_left_at`, an index of only
    # those who left: count(*) reads it alone). Those who left by an exit step, or a send's
    # exit, have a step run of it (counted as entered above); the others left while waiting
    # there (an exit rule), so they entered it too.
    for left in (
        enrollments.filter(state=State.EXITED)
        .values("node", "reason")
        .annotate(n=Count("*"))
        .order_by()
    ):
        found = at(left["node"])
        found.exited += left["n"]
        found.entered += left["n"]
        add_reason(left["node"] or start, "exited", left["reason"], left["n"])
    for found in counts.values():
        # The exits that had their step run were counted as entered twice.
        found.entered -= found.outcomes.get(Outcome.EXITED, 0)
    # A journey that could not run fails where the person was, without a step run there.
    ran_here = StepRun.objects.filter(enrollment=OuterRef("pk"), node=OuterRef("node"))
    for failed in (
        enrollments.filter(state=State.FAILED)
        .filter(~Exists(ran_here))
        .values("node", "reason")
        .annotate(n=Count("id"))
        .order_by()
    ):
        found = at(failed["node"])
        found.entered += failed["n"]
        found.exited += failed["n"]
        add_reason(failed["node"] or start, "exited", failed["reason"], failed["n"])
    for (node, kind), found_reasons in reasons.items():
        if kind == "exited":
            counts[node].exited_reasons = _ranked(found_reasons)
        else:
            counts[node].not_sent_reasons = _ranked(found_reasons)
    return counts


def _count_run(
    node: str,
    found: StepCounts,
    outcome: str,
    detail: str,
    n: int,
    add_reason: Callable[[str, str, str, int], None],
) -> None:
    found.entered += n
    found.outcomes[outcome] = found.outcomes.get(outcome, 0) + n
    if outcome in _WAY_OF:
        way = _WAY_OF[outcome]
        found.ways[way] = found.ways.get(way, 0) + n
    elif outcome == Outcome.BRANCH:
        found.ways[detail] = found.ways.get(detail, 0) + n
    elif outcome in _NOT_SENT:
        found.not_sent += n
        add_reason(node, "not_sent", detail or Outcome(outcome).label.lower(), n)


def _boxes(journey: Journey, step_id: str, counts: dict[str, StepCounts]) -> list[StepBox]:
    """The column of steps from `step_id` down: a step with one way out continues it, a
    step with several ends it with its branches side by side."""
    column: list[StepBox] = []
    seen: set[str] = set()
    step = journey.step(step_id)
    while step is not None and step.id not in seen:
        seen.add(step.id)
        found = counts.get(step.id, StepCounts())
        box = StepBox(step, STEP_TYPES[step_type(step)], step_words(step), found)
        column.append(box)
        exits = step_exits(step)
        if len(exits) == 1:
            step = journey.step(exits[0][1])
            continue
        box.branches = [
            WayOut(label, found.ways.get(label, 0), _boxes(journey, nxt, counts))
            for label, nxt in exits
        ]
        break
    return column


def trigger_segments(trigger: Trigger) -> list[int]:
    match trigger:
        case SegmentTrigger(segment=pk) | BroadcastTrigger(segment=pk):
            return [pk]
    return []


def journey_progress(*, campaign: Campaign, version_number: int | None = None) -> JourneyProgress:
    """The journey page: the trigger, then every step top to bottom with its counts, for
    the live version (or the one asked for). Raises JourneyError for a journey without a
    version that can be read."""
    version = None
    versions: list[VersionChoice] = []
    if campaign.is_journey:
        numbers = list(
            JourneyVersion.objects.filter(campaign=campaign).values_list("number", flat=True)
        )
        if len(numbers) > 1:
            # Several: the picker shows each one's people (one grouped query).
            versions = journey_versions(campaign=campaign)
        live = campaign.version
        wanted = version_number if version_number in numbers else None
        if wanted is None and live is None:
            raise JourneyError(["This journey has no published version yet."])
        version = (
            JourneyVersion.objects.get(campaign=campaign, number=wanted)
            if wanted is not None and (live is None or live.number != wanted)
            else live
        )
    journey = engine.journey_of(campaign, version)
    others = [v for v in versions if version is not None and v.pk != version.pk and v.enrolled]
    counts = step_counts(
        campaign=campaign, version=version, only_version=not others, start=journey.start
    )
    if campaign.is_journey and journey.goal is not None and journey.sends():
        converted = stats.journey_send_conversions(
            campaign=campaign, version=version, goal=journey.goal, only_version=not others
        )
        for send in journey.sends():
            counts.setdefault(send.id, StepCounts()).converted = converted.get(send.id, 0)
    names = dict(
        Segment.objects.filter(pk__in=trigger_segments(journey.trigger)).values_list("pk", "name")
    )
    goal = ""
    if journey.goal is not None:
        days = journey.goal.days
        goal = f"“{activity_words(journey.goal.activity)}” within {days} day{'s' * (days != 1)}"
    # Everyone who entered passed the first step: its count is the version's.
    first = counts.get(journey.start, StepCounts())
    return JourneyProgress(
        journey=journey,
        trigger=trigger_words(journey.trigger, names),
        exit_on=[activity_words(selector) for selector in journey.exit_on],
        goal=goal,
        steps=_boxes(journey, journey.start, counts),
        version=version,
        versions=versions,
        enrolled=first.entered,
        waiting=sum(found.waiting for found in counts.values()),
    )


# --- the enrollment list -------------------------------------------------------------------

SORTS: dict[str, tuple[str, str, bool]] = {
    # key: (label, field, newest first)
    "entered": ("Entered", "created_at", True),
    "due": ("Due", "due_at", False),
    "updated": ("Updated", "updated_at", True),
}


@dataclass(frozen=True)
class EnrollmentRow:
    enrollment: Enrollment
    version: int | None
    step: str
    step_type: str
    ordered_at: datetime
    messages: list[Message]


@dataclass
class EnrollmentPage:
    rows: list[EnrollmentRow]
    next_cursor: str
    sort: str


def person_ids(search: str) -> QuerySet[Profile, int]:
    """The people an email or user id names: an email's start (`profile_email`), a user id
    exactly, or `#123`."""
    search = search.strip()
    lowered = search.lower()
    found = Q(user_id=search)
    if "@" in search or len(search) >= 3:
        found |= Q(email__startswith=lowered) & ~Q(email="")
    number = re.fullmatch(r"#(\d{1,18})", search)
    if number:
        found |= Q(pk=int(number.group(1)))
    return Profile.objects.filter(found).values_list("pk", flat=True)


def enrollment_page(
    *,
    campaign: Campaign,
    version: int | None = None,
    state: str = "",
    node: str = "",
    person: str = "",
    sort: str = "entered",
    after: str = "",
    limit: int = ENROLLMENTS_PAGE_SIZE,
) -> EnrollmentPage:
    """A page of the journey's enrollments, sorted by when they entered (newest first),
    are due (soonest first) or changed (newest first), keyset-paged on (that time, id)."""
    sort = sort if sort in SORTS else "entered"
    _, column, descending = SORTS[sort]
    enrollments = Enrollment.objects.filter(campaign=campaign)
    if version is not None:
        enrollments = enrollments.filter(version__number=version)
    if state in State.values:
        enrollments = enrollments.filter(state=state)
    if node:
        enrollments = enrollments.filter(node=node)
    if person.strip():
        enrollments = enrollments.filter(profile_id__in=person_ids(person))
    cursor = time_id_parse(after)
    if cursor is not None:
        at, pk = cursor
        if descending:
            enrollments = enrollments.filter(
                Q(**{f"{column}__lt": at}) | Q(**{column: at, "pk__lt": pk})
            )
        else:
            enrollments = enrollments.filter(
                Q(**{f"{column}__gt": at}) | Q(**{column: at, "pk__gt": pk})
            )
    order = [f"-{column}", "-id"] if descending else [column, "id"]
    found = list(
        enrollments.select_related("profile", "version")
        .only(
            "campaign_id",
            "version__number",
            "node",
            "state",
            "reason",
            "trigger_at",
            "due_at",
            "created_at",
            "updated_at",
            "profile__id",
            "profile__name",
            "profile__email",
            "profile__user_id",
        )
        .order_by(*order)[: limit + 1]
    )
    more = len(found) > limit
    found = found[:limit]
    messages: dict[int, list[Message]] = {}
    for message in Message.objects.filter(enrollment__in=[e.pk for e in found]).only(
        "id", "status", "subject", "node", "enrollment_id", "channel"
    ):
        messages.setdefault(message.enrollment_id or 0, []).append(message)
    rows = []
    for enrollment in found:
        step = _step_of(campaign, enrollment)
        rows.append(
            EnrollmentRow(
                enrollment=enrollment,
                version=enrollment.version.number if enrollment.version else None,
                step=step_words(step) if step else (enrollment.node or "the start"),
                step_type=STEP_TYPES[step_type(step)] if step else "",
                ordered_at=getattr(enrollment, column),
                messages=sorted(messages.get(enrollment.pk, []), key=lambda m: m.pk),
            )
        )
    last = found[-1] if found and more else None
    return EnrollmentPage(
        rows=rows,
        next_cursor=time_id_token(getattr(last, column), last.pk) if last else "",
        sort=sort,
    )


def _step_of(campaign: Campaign, enrollment: Enrollment) -> Step | None:
    try:
        journey = engine.journey_of(campaign, enrollment.version)
    except JourneyError:
        return None
    return journey.step(enrollment.node or journey.start)


def step_choices(*, campaign: Campaign) -> list[tuple[str, str]]:
    """The steps of the journey's live version, for the list's step filter."""
    try:
        journey = engine.journey_of(campaign)
    except JourneyError:
        return []
    return [(step.id, f"{step.id}: {step_words(step)}") for step in journey.steps]


# --- a person's journeys --------------------------------------------------------------------


@dataclass(frozen=True)
class PathStep:
    run: StepRun
    words: str
    messages: list[Message]


@dataclass(frozen=True)
class NextUp:
    """What happens next to a waiting person: "Waiting until 14:05 for “Order Completed”,
    then: email “…”"."""

    doing: str  # "Waiting", "Waiting for “Order Completed”", "Held for quiet hours"
    until: datetime
    then: str


@dataclass(frozen=True)
class PersonJourney:
    enrollment: Enrollment
    campaign: Campaign
    version: int | None
    step: str
    next: NextUp | None
    path: list[PathStep]


def _next_up(journey: Journey, step: Step | None, enrollment: Enrollment) -> NextUp | None:
    if enrollment.state != State.PENDING or step is None:
        return None
    match step:
        case Wait(next=nxt):
            return NextUp("Waiting", enrollment.due_at, step_short(journey.step(nxt)))
        case WaitFor(activity=activity, yes=yes, timed_out=timed_out):
            then = (
                f"if it comes: {step_short(journey.step(yes))}; "
                f"if not: {step_short(journey.step(timed_out))}"
                if yes != timed_out
                else step_short(journey.step(yes))
            )
            return NextUp(f"Waiting for “{activity_words(activity)}”", enrollment.due_at, then)
        case Send():
            return NextUp("Held (quiet hours)", enrollment.due_at, step_short(step))
    return NextUp("Due", enrollment.due_at, step_short(step))


def profile_journeys(*, profile: Profile, limit: int = PROFILE_JOURNEYS) -> list[PersonJourney]:
    """The journeys a person is in or was in, latest entry first, each with the step they
    are at, what comes next and when, and their path: three queries."""
    enrollments = list(
        Enrollment.objects.filter(profile=profile)
        .select_related("campaign", "version")
        .order_by("-created_at", "-id")[:limit]
    )
    runs: dict[int, list[StepRun]] = {}
    for run in StepRun.objects.filter(enrollment__in=[e.pk for e in enrollments]).order_by(
        "at", "id"
    ):
        runs.setdefault(run.enrollment_id, []).append(run)
    messages: dict[tuple[int, str], list[Message]] = {}
    for message in Message.objects.filter(enrollment__in=[e.pk for e in enrollments]).only(
        "id", "status", "subject", "node", "enrollment_id", "channel"
    ):
        messages.setdefault((message.enrollment_id or 0, message.node), []).append(message)
    found = []
    for enrollment in enrollments:
        campaign = enrollment.campaign
        try:
            journey: Journey | None = engine.journey_of(campaign, enrollment.version)
        except JourneyError:
            journey = None
        step = journey.step(enrollment.node or journey.start) if journey else None
        path = []
        for run in runs.get(enrollment.pk, []):
            ran = journey.step(run.node) if journey else None
            path.append(
                PathStep(
                    run,
                    step_words(ran) if ran else run.node,
                    messages.get((enrollment.pk, run.node), []),
                )
            )
        found.append(
            PersonJourney(
                enrollment=enrollment,
                campaign=campaign,
                version=enrollment.version.number if enrollment.version else None,
                step=step_words(step) if step else (enrollment.node or "the start"),
                next=_next_up(journey, step, enrollment) if journey else None,
                path=path,
            )
        )
    return found
