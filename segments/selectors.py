"""Reads of materialised membership: the segment list with its trend, a segment's page (size
over time, recent entries and exits, a page of members), one person's segments, and the
members as CSV; and the recent values the builder suggests for a text field."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from cdp_project.core.cursors import time_id_parse, time_id_token
from cdp_project.core.db import statement_timeout
from ingestion.catalog.paths import (
    EXAMPLE_MAX_LENGTH,
    HIDDEN_KINDS,
    mask_example,
    path_parse,
    personal_kind,
)
from ingestion.models import Activity, Event
from profiles.models import Identity, Profile
from segments.models import Membership, MembershipChange, Segment, SizeSnapshot

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

TREND_DAYS = 7
HISTORY_DAYS = 30
MEMBERS_PER_PAGE = 50
RECENT_CHANGES = 20
# The most refreshes a size chart draws (a refresh every 5 minutes that changes something
# each time writes 8,640 in 30 days); the older ones are left out.
MAX_SIZE_POINTS = 2000
# A person's exits stay on their profile page this long.
RECENT_EXIT_DAYS = 30
MAX_RECENT_EXITS = 10

# Profile columns read for member lists: not the JSON blobs.
_MEMBER_FIELDS = ("id", "user_id", "email", "name")


# --- the list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trend:
    """How much a segment grew (or shrank) over the last days; `since` is set when it is
    younger than that, and the change counts from its first refresh."""

    change: int
    since: datetime | None = None

    @property
    def text(self) -> str:
        return f"{self.change:+,}" if self.change else "±0"


@dataclass(frozen=True)
class SegmentRow:
    """One line of the segment list."""

    pk: int
    name: str
    sentence: str
    size: int | None
    refreshed_at: datetime | None
    refresh_ms: int | None
    refresh_error: str
    trend: Trend | None


def segment_list() -> list[SegmentRow]:
    """Every segment, by name, each with its trend (None before its first refresh). Two
    index probes per segment (`segment_size_latest`), however long the history."""
    cutoff = timezone.now() - timedelta(days=TREND_DAYS)
    snapshots = SizeSnapshot.objects.filter(segment=OuterRef("pk"))
    before = snapshots.filter(at__lte=cutoff).order_by("-at", "-id")
    first = snapshots.filter(at__gt=cutoff).order_by("at", "id")
    rows = (
        Segment.objects.annotate(
            size_then=Subquery(before.values("size")[:1]),
            first_size=Subquery(first.values("size")[:1]),
            first_at=Subquery(first.values("at")[:1]),
        )
        .order_by("name", "pk")
        .values_list(
            "pk",
            "name",
            "sentence",
            "size",
            "refreshed_at",
            "refresh_ms",
            "refresh_error",
            "size_then",
            "first_size",
            "first_at",
        )
    )
    return [
        SegmentRow(
            pk=pk,
            name=name,
            sentence=sentence,
            size=size,
            refreshed_at=refreshed_at,
            refresh_ms=refresh_ms,
            refresh_error=refresh_error,
            trend=_trend(size, size_then, first_size, first_at),
        )
        for (
            pk,
            name,
            sentence,
            size,
            refreshed_at,
            refresh_ms,
            refresh_error,
            size_then,
            first_size,
            first_at,
        ) in rows
    ]


def _trend(
    size: int | None, size_then: int | None, first_size: int | None, first_at: datetime | None
) -> Trend | None:
    if size is None:
        return None
    if size_then is not None:
        return Trend(size - size_then)
    if first_size is not None:
        return Trend(size - first_size, since=first_at)
    return None


# --- a segment's page ------------------------------------------------------------------------


@dataclass(frozen=True)
class SizePoint:
    at: datetime
    size: int


def size_history(
    *, segment: Segment, days: int = HISTORY_DAYS, limit: int = MAX_SIZE_POINTS
) -> list[SizePoint]:
    """The size over the last `days`, oldest first, for a step chart drawn at the real times
    of the refreshes: the size at the window's start (the last snapshot before it), then
    every snapshot (a refresh writes one only when something changed; the latest `limit` of
    them), then the size now. Empty before the first refresh. Three reads of
    `segment_size_latest`."""
    now = timezone.now()
    start = now - timedelta(days=days)
    snapshots = SizeSnapshot.objects.filter(segment=segment)
    recent = list(
        snapshots.filter(at__gt=start).order_by("-at", "-id").values_list("at", "size")[:limit]
    )
    recent.reverse()
    points: list[SizePoint] = []
    if len(recent) < limit:
        before = snapshots.filter(at__lte=start).order_by("-at", "-id").values("size").first()
        if before is not None:
            points.append(SizePoint(start, before["size"]))
    points.extend(SizePoint(at, size) for at, size in recent)
    if points and segment.size is not None:
        points.append(SizePoint(max(now, points[-1].at), segment.size))
    return points


def recent_changes(*, segment: Segment, limit: int = RECENT_CHANGES) -> list[MembershipChange]:
    """The latest entries and exits, newest first (`segment_change_latest`)."""
    return list(
        MembershipChange.objects.filter(segment=segment)
        .select_related("profile")
        .only("kind", "at", "segment_id", *(f"profile__{f}" for f in _MEMBER_FIELDS))
        .order_by("-at", "-id")[:limit]
    )


@dataclass(frozen=True)
class MemberCursor:
    """Where a page of members ends: the last one's (entered at, membership id)."""

    entered_at: datetime
    pk: int

    def token(self) -> str:
        return time_id_token(self.entered_at, self.pk)

    @classmethod
    def parse(cls, token: str | None) -> MemberCursor | None:
        parsed = time_id_parse(token)
        return cls(*parsed) if parsed else None


@dataclass(frozen=True)
class MemberPage:
    members: list[Membership]
    next_cursor: MemberCursor | None


def member_page(
    *, segment: Segment, before: MemberCursor | None = None, limit: int = MEMBERS_PER_PAGE
) -> MemberPage:
    """Members, newest entered first; keyset paging from `before`."""
    members = (
        Membership.objects.filter(segment=segment)
        .select_related("profile")
        .only("entered_at", "segment_id", *(f"profile__{f}" for f in _MEMBER_FIELDS))
        .order_by("-entered_at", "-id")
    )
    if before is not None:
        members = members.filter(
            Q(entered_at__lt=before.entered_at) | Q(entered_at=before.entered_at, id__lt=before.pk)
        )
    found = list(members[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    cursor = MemberCursor(found[-1].entered_at, found[-1].pk) if more else None
    return MemberPage(found, cursor)


# --- one person ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberStatus:
    """Whether a person is in a segment as of its last refresh: since when, or when they
    last left."""

    membership: Membership | None
    last_exit: MembershipChange | None

    @property
    def is_member(self) -> bool:
        return self.membership is not None


def member_status(*, segment: Segment, profile: Profile) -> MemberStatus:
    membership = Membership.objects.filter(segment=segment, profile=profile).first()
    last_exit = (
        MembershipChange.objects.filter(
            segment=segment, profile=profile, kind=MembershipChange.Kind.EXITED
        )
        .order_by("-at", "-id")
        .first()
    )
    return MemberStatus(membership, last_exit)


@dataclass(frozen=True)
class ProfileSegments:
    """The segments a person is in (since when), and those they left recently."""

    current: list[Membership]
    left: list[MembershipChange]


def profile_segments(*, profile: Profile) -> ProfileSegments:
    """Two indexed reads: memberships by profile (`membership_profile`), and recent changes
    by profile (`segment_change_profile`)."""
    current = list(
        Membership.objects.filter(profile=profile)
        .select_related("segment")
        .only("entered_at", "profile_id", "segment__name", "segment__sentence")
        .order_by("-entered_at", "-id")
    )
    inside = {membership.segment_id for membership in current}
    since = timezone.now() - timedelta(days=RECENT_EXIT_DAYS)
    exits = (
        MembershipChange.objects.filter(
            profile=profile, kind=MembershipChange.Kind.EXITED, at__gte=since
        )
        .select_related("segment")
        .only("at", "kind", "profile_id", "segment__name", "segment__sentence")
        .order_by("-at", "-id")
    )
    left: list[MembershipChange] = []
    seen: set[int] = set()
    for change in exits[: MAX_RECENT_EXITS * 4]:
        if change.segment_id in inside or change.segment_id in seen:
            continue
        seen.add(change.segment_id)
        left.append(change)
        if len(left) == MAX_RECENT_EXITS:
            break
    return ProfileSegments(current, left)


# --- export ----------------------------------------------------------------------------------

EXPORT_COLUMNS = [
    ("profile_id", "profile_id"),
    ("user_id", "profile__user_id"),
    ("anonymous_id", "anonymous_id"),
    ("email", "profile__email"),
    ("name", "profile__name"),
    ("entered_at", "entered_at"),
    ("email_consent", "profile__email_consent"),
    ("last_seen", "profile__last_seen"),
    ("orders_count", "profile__orders_count"),
    ("revenue", "profile__revenue"),
    ("last_order_at", "profile__last_order_at"),
    ("rfm_score", "profile__rfm_score"),
]
# Characters that make a spreadsheet read a cell as a formula (OWASP's list: tab and
# carriage return too).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CHUNK = 64 * 1024


def csv_cell(value: Any) -> str:
    """A value as spreadsheet-safe CSV text: text that a spreadsheet would run as a formula
    ("=HYPERLINK(…)" as a name) gets a leading apostrophe; times are ISO 8601 in UTC."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bool | int | float | Decimal):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class _Line:
    """A file-like object that hands back what csv.writer writes to it."""

    def write(self, value: str) -> str:
        return value


def members_csv(*, segment: Segment) -> Iterator[str]:
    """The segment's current members as CSV text, in pieces, read with a server-side cursor:
    memory stays flat however many members it has. Newest entered first, like the page
    (`membership_latest`), so the first rows leave before the last are read. Each member
    has one anonymous id (the one seen last), read in the same query (`identity_profile`)."""
    writer = csv.writer(_Line())
    yield writer.writerow([header for header, _ in EXPORT_COLUMNS])
    anonymous_id = (
        Identity.objects.filter(
            profile_id=OuterRef("profile_id"), namespace=Identity.Namespace.ANONYMOUS_ID
        )
        .order_by("-first_seen", "-id")
        .values("value")[:1]
    )
    rows = (
        Membership.objects.filter(segment=segment)
        .annotate(anonymous_id=Subquery(anonymous_id))
        .order_by("-entered_at", "-id")
        .values_list(*(field for _, field in EXPORT_COLUMNS))
        .iterator(chunk_size=2000)
    )
    buffer: list[str] = []
    size = 0
    for row in rows:
        line = writer.writerow([csv_cell(value) for value in row])
        buffer.append(line)
        size += len(line)
        if size >= _CHUNK:
            yield "".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer)


# --- value suggestions for the builder ---------------------------------------------------------

# The catalog keeps a few example values per field; the builder also suggests the values most
# common among the latest events of the activity (or the latest profiles, for traits). Both
# reads are bounded: SUGGESTION_SAMPLE rows by an index, and a short statement timeout, so a
# redraw of the builder stays fast on any volume.
SUGGESTION_SAMPLE = 2000
MAX_SUGGESTIONS = 30
SUGGESTION_TIMEOUT_MS = 500
MAX_SUGGESTION_ACTIVITIES = 10
MAX_ARRAY_STEPS = 3


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# The latest events of one track activity (`event_name_time`, read backwards), of page or
# screen calls (the newest ids), and the latest profiles.
_LATEST_TRACK = (
    f"(SELECT properties AS doc FROM {_table(Event)} WHERE name = %s AND type = %s "  # noqa: S608
    "ORDER BY timestamp DESC LIMIT %s)"
)
_LATEST_CALLS = (
    f"(SELECT properties AS doc FROM {_table(Event)} WHERE type = %s "  # noqa: S608
    "ORDER BY id DESC LIMIT %s)"
)
_LATEST_PROFILES = f"(SELECT traits AS doc FROM {_table(Profile)} ORDER BY id DESC LIMIT %s)"  # noqa: S608


def _value_sql(latest: str, steps: list[str | None]) -> tuple[str, list[Any]]:
    """The text values at a path of the JSON documents `latest` yields (one `doc` column),
    through its arrays (`products[].category`, `tags[]`), most common first. The path's keys
    are `text[]` parameters of `#>`; nothing of the path becomes SQL text."""
    keys: list[list[str]] = [[]]
    for step in steps:
        if step is None:
            keys.append([])
        else:
            keys[-1].append(step)
    joins: list[str] = []
    params: list[Any] = []
    current = "latest.doc"
    for number, prefix in enumerate(keys[:-1], start=1):
        # The alias comes from this counter, never from input.
        joins.append(
            f"CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof({current} #> "
            f"%s::text[]) = 'array' THEN {current} #> %s::text[] END) AS item{number}(value)"
        )
        params += [prefix, prefix]
        current = f"item{number}.value"
    joins.append(f"CROSS JOIN LATERAL (SELECT {current} #> %s::text[] AS value) AS found")
    params.append(keys[-1])
    # Only fixed SQL, table names from the models and this function's own aliases.
    sql = (
        "SELECT v FROM (SELECT found.value #>> '{}' AS v "  # noqa: S608
        f"FROM {latest} AS latest {' '.join(joins)} "
        "WHERE jsonb_typeof(found.value) IN ('string', 'number')) AS seen "
        "WHERE v <> '' AND char_length(v) <= %s "
        "GROUP BY v ORDER BY count(*) DESC, v LIMIT %s"
    )
    return sql, [*params, EXAMPLE_MAX_LENGTH, MAX_SUGGESTIONS]


def _suggestions(latest: str, latest_params: list[Any], path: str) -> list[str]:
    try:
        steps = path_parse(path)
    except ValueError:
        return []
    if not steps or steps.count(None) > MAX_ARRAY_STEPS:
        return []
    sql, params = _value_sql(latest, steps)
    try:
        with (
            transaction.atomic(),
            statement_timeout(SUGGESTION_TIMEOUT_MS),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [*latest_params, *params])
            found = [str(value) for (value,) in cursor.fetchall()]
    except DatabaseError as error:  # too slow or unreadable: the catalog's examples remain
        logger.warning("segment_value_suggestions_failed path=%s error=%s", path, error)
        return []
    # Values that look like an email, a phone number, a street address, an IBAN or a card
    # number are not offered, as the catalog keeps none of them.
    return [
        value
        for value in found
        if mask_example(value, path) == value and personal_kind(value, path) not in HIDDEN_KINDS
    ]


def recent_property_values(*, selector: dict[str, Any], path: str) -> list[str]:
    """The text values a property took most often in the latest events of the activities
    a selector means (`event_name_time` for track events; the newest events for page and
    screen calls), most common first."""
    if selector.get("role"):
        activities = list(
            Activity.objects.filter(role=selector["role"])
            .exclude(status=Activity.Status.BLOCKED)
            .order_by("-volume")
            .values_list("kind", "name")[:MAX_SUGGESTION_ACTIVITIES]
        )
    elif selector.get("kind"):
        activities = [(selector["kind"], selector.get("name", ""))]
    else:
        return []
    parts: list[str] = []
    params: list[Any] = []
    each = max(SUGGESTION_SAMPLE // max(len(activities), 1), 100)
    for kind, name in activities:
        if kind == Activity.Kind.TRACK:
            parts.append(_LATEST_TRACK)
            params += [name, Event.Type.TRACK, each]
        elif kind in (Activity.Kind.PAGE, Activity.Kind.SCREEN):
            parts.append(_LATEST_CALLS)
            params += [kind, each]
    if not parts:
        return []
    return _suggestions(f"({' UNION ALL '.join(parts)})", params, path)


def recent_trait_values(*, path: str) -> list[str]:
    """The text values a trait holds most often among the latest profiles, most common
    first."""
    return _suggestions(_LATEST_PROFILES, [SUGGESTION_SAMPLE], path)
