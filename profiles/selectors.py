"""Reads for the profile pages: the searchable list, one profile's unified view, and its
timeline of events and notes, with what other apps add to it (PROFILE_TIMELINE_EXTRAS)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from cdp_project.core.cursors import from_micros, micros_of, time_id_parse, time_id_token
from ingestion import selectors as ingestion_selectors
from ingestion.catalog import selectors as catalog_selectors
from ingestion.models import Activity, Event
from profiles.computed.engagement import engagement_now
from profiles.computed.orders import has_rate
from profiles.models import (
    ConsentChange,
    Identity,
    Order,
    Profile,
    ProfileMerge,
    ProfileNote,
)

PROFILES_PER_PAGE = 50
TIMELINE_PAGE_SIZE = 50
# Searches shorter than this match ids exactly rather than by prefix: a one-letter prefix
# of every id is most of the table, and nobody finds one person with it.
MIN_PREFIX_LENGTH = 2


def site_currency() -> str:
    return getattr(settings, "SITE_CURRENCY", "USD")


# --- the list -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileCursor:
    """Where a page of the list ends: the last profile's (last seen, id)."""

    last_seen: datetime | None
    pk: int

    def token(self) -> str:
        micros = "" if self.last_seen is None else str(micros_of(self.last_seen))
        return f"{micros}.{self.pk}"

    @classmethod
    def parse(cls, token: str | None) -> ProfileCursor | None:
        match = re.fullmatch(r"(-?\d{1,20})?\.(\d{1,19})", token or "")
        if not match:
            return None
        micros, pk = match.groups()
        return cls(from_micros(int(micros)) if micros else None, int(pk))


def name_search_words(search: str) -> list[str]:
    """The words of a name search, each matched as the start of a word of the name. Only
    letters and digits are kept, so nothing typed can change the query's syntax. An email
    is not a name."""
    if "@" in search:
        return []
    return re.findall(r"[^\W_]+", search.lower())[:6]


def _search_ids(search: str) -> QuerySet[Any, Mapping[str, object]]:
    """The ids of the profiles a search matches, as one UNION of index-served lookups.

    Each branch is served by its own index (an OR across tables would defeat them):
    - the email starts with it (`profile_email`, varchar_pattern_ops),
    - every word typed starts a word of the name, any case and order ("hop" or "grace h"
      finds Grace Hopper; `profile_name_words`, full-text search with prefixes),
    - any id, of any namespace, is it or starts with it (`identity_value`): user ids,
      anonymous ids and emails alike,
    - `#123` or `123`: the profile with that number.
    The `startswith` lookups escape `%`, `_` and `\\` in what the marketer typed.
    """
    lowered = search.lower()
    prefix = len(search) >= MIN_PREFIX_LENGTH
    id_lookup = "value__startswith" if prefix else "value"
    branches: list[QuerySet[Any, Mapping[str, object]]] = [
        Identity.objects.filter(**{id_lookup: search}).values("profile_id"),
    ]
    if lowered != search:
        branches.append(Identity.objects.filter(**{id_lookup: lowered}).values("profile_id"))
    if prefix:
        # The partial indexes leave out empty values: saying so lets Postgres use them.
        branches.append(
            Profile.objects.exclude(email="").filter(email__startswith=lowered).values("id")
        )
        words = name_search_words(search)
        if words:
            branches.append(
                Profile.objects.exclude(name="")
                .annotate(name_words=SearchVector("name", config="simple"))
                .filter(
                    name_words=SearchQuery(
                        " & ".join(f"{word}:*" for word in words),
                        search_type="raw",
                        config="simple",
                    )
                )
                .values("id")
            )
    number = re.fullmatch(r"#?(\d{1,18})", search)
    if number:
        branches.append(Profile.objects.filter(pk=int(number.group(1))).values("id"))
    first, *rest = branches
    # UNION ALL: `pk IN (…)` removes duplicates itself, without a pass of its own.
    return first.union(*rest, all=True)


# The profile list's RFM filters: query parameter → the score it compares (1 to 5).
RFM_FILTERS = {"rfm_r": "rfm_recency", "rfm_f": "rfm_frequency", "rfm_m": "rfm_monetary"}


def profile_search(
    *,
    search: str = "",
    rfm: Mapping[str, int] | None = None,
    after: ProfileCursor | None = None,
    limit: int = PROFILES_PER_PAGE,
) -> list[Profile]:
    """Profiles, most recently seen first (profiles never seen last, newest first), matching
    `search` when given, and the RFM scores in `rfm` (`{"rfm_r": 5, "rfm_f": 4}`, what the
    RFM grid links to). Keyset paging: `after` is where the previous page ended.

    Served by `profile_last_seen` (last_seen DESC NULLS LAST, id DESC); profiles without a
    last-seen time are read in a second step, so each step is one ordered index range.
    """
    profiles = Profile.objects.defer("traits", "trait_times", "preferences", "last_viewed")
    search = search.strip()
    if search:
        profiles = profiles.filter(pk__in=_search_ids(search))
    if rfm:
        profiles = profiles.filter(**{RFM_FILTERS[key]: score for key, score in rfm.items()})
    # NULLS LAST as in the index: Postgres sorts DESC with nulls first unless told.
    order = (F("last_seen").desc(nulls_last=True), "-pk")
    found: list[Profile] = []
    if after is None or after.last_seen is not None:
        seen = profiles.filter(last_seen__isnull=False)
        if after is not None:
            seen = seen.filter(last_seen__lte=after.last_seen).filter(
                Q(last_seen__lt=after.last_seen) | Q(pk__lt=after.pk)
            )
        found = list(seen.order_by(*order)[:limit])
    if len(found) < limit:
        never = profiles.filter(last_seen__isnull=True)
        if after is not None and after.last_seen is None:
            never = never.filter(pk__lt=after.pk)
        found += list(never.order_by(*order)[: limit - len(found)])
    return found


def profile_count_estimate() -> int:
    """How many profiles there are, from the planner's statistics once the table is large
    (an exact count of a large table reads all of it), exactly while it is small."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [Profile._meta.db_table],
        )
        row = cursor.fetchone()
    estimate = int(row[0]) if row else -1
    if estimate < 10_000:
        return Profile.objects.count()
    return estimate


# --- one profile ----------------------------------------------------------------------------

NAMESPACE_ORDER = {"user_id": 0, "email": 1}
ANONYMOUS = Identity.Namespace.ANONYMOUS_ID.value


def profile_identities(*, profile: Profile) -> list[Identity]:
    """Known ids first (user ids, emails, other namespaces), then anonymous ids, oldest
    first within each."""
    identities = list(profile.identities.all())
    identities.sort(
        key=lambda i: (
            NAMESPACE_ORDER.get(i.namespace, 3 if i.namespace == ANONYMOUS else 2),
            i.first_seen,
            i.pk,
        )
    )
    return identities


@dataclass
class ViewedProduct:
    key: str
    at: datetime | None
    product: Any


def profile_last_viewed(*, profile: Profile, limit: int = 8) -> list[ViewedProduct]:
    """The products the person viewed last, newest first, with what the catalog knows of
    them (one query)."""
    entries = [
        entry
        for entry in (profile.last_viewed or [])
        if isinstance(entry, dict) and entry.get("key") not in (None, "")
    ][:limit]
    products = catalog_selectors.products_by_ids(str(entry["key"]) for entry in entries)
    viewed = []
    for entry in entries:
        at = entry.get("at")
        at = parse_datetime(at) if isinstance(at, str) else None
        viewed.append(ViewedProduct(str(entry["key"]), at, products.get(str(entry["key"]))))
    return viewed


def profile_preferences(*, profile: Profile, top: int = 5) -> dict[str, list[tuple[str, float]]]:
    """The strongest categories and brands, strongest first, as shares of the top one."""
    preferences = profile.preferences if isinstance(profile.preferences, dict) else {}
    result: dict[str, list[tuple[str, float]]] = {}
    for group in ("categories", "brands"):
        weights = preferences.get(group)
        if not isinstance(weights, dict):
            continue
        pairs = [(str(k), float(v)) for k, v in weights.items() if isinstance(v, int | float)]
        pairs = [pair for pair in pairs if pair[1] > 0]
        pairs.sort(key=lambda pair: (-pair[1], pair[0]))
        if pairs:
            result[group] = pairs[:top]
    return result


@dataclass
class EngagementWeek:
    start: date
    points: float


def profile_engagement_weeks(
    *, profile: Profile, weeks: int = 12, today: date | None = None
) -> list[EngagementWeek]:
    """The engagement points of the last `weeks` weeks, oldest first, weeks without
    activity as zero, up to the current week (so a person gone quiet shows a flat end)."""
    raw = profile.engagement_weeks if isinstance(profile.engagement_weeks, dict) else {}
    points: dict[date, float] = {}
    for key, value in raw.items():
        try:
            points[date.fromisoformat(str(key))] = float(value)
        except (TypeError, ValueError):
            continue
    if not points:
        return []
    today = today or timezone.localdate()
    latest = max(points)
    while latest + timedelta(days=7) <= today:
        latest += timedelta(days=7)
    starts = [latest - timedelta(days=7 * n) for n in range(weeks - 1, -1, -1)]
    return [EngagementWeek(start, points.get(start, 0.0)) for start in starts]


@dataclass
class ProfileView:
    """Everything the profile page shows above the timeline."""

    profile: Profile
    identities: list[Identity]
    consent_changes: list[ConsentChange]
    orders: list[Order]
    merges: list[ProfileMerge]
    last_viewed: list[ViewedProduct]
    preferences: dict[str, list[tuple[str, float]]]
    engagement_weeks: list[EngagementWeek]
    currency: str
    orders_shown: int = field(default=0)
    # The engagement score decayed to now (the stored one is as of its newest event).
    engagement_now: float = 0.0
    # Currencies of the orders shown that have no rate to the site's currency.
    currencies_without_rate: list[str] = field(default_factory=list)
    # The profile holding the email this person's traits give, when it is another one.
    email_profile_id: int | None = None


ORDERS_SHOWN = 20
CONSENT_CHANGES_SHOWN = 20
MERGES_SHOWN = 50


def profile_view(*, profile: Profile) -> ProfileView:
    """One profile's unified view: a handful of small queries, none per row."""
    orders = list(profile.orders.order_by("-placed_at", "-pk")[:ORDERS_SHOWN])
    return ProfileView(
        profile=profile,
        identities=profile_identities(profile=profile),
        consent_changes=list(
            profile.consent_changes.order_by("-at", "-pk")[:CONSENT_CHANGES_SHOWN]
        ),
        orders=orders,
        merges=list(profile.merges.order_by("-merged_at", "-pk")[:MERGES_SHOWN]),
        last_viewed=profile_last_viewed(profile=profile),
        preferences=profile_preferences(profile=profile),
        engagement_weeks=profile_engagement_weeks(profile=profile),
        currency=site_currency(),
        orders_shown=len(orders),
        engagement_now=engagement_now(profile),
        currencies_without_rate=sorted(
            {o.currency for o in orders if o.currency and not has_rate(o.currency)}
        ),
        email_profile_id=_email_elsewhere(profile),
    )


def _email_elsewhere(profile: Profile) -> int | None:
    """Two known people never merge through an email (docs/profiles.md): when this person's
    email trait is another profile's id, the page says which, instead of staying silent."""
    email = profile.traits.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    email = email.strip().lower()
    if email == profile.email:
        return None
    return (
        Identity.objects.filter(namespace=Identity.Namespace.EMAIL, value=email)
        .exclude(profile_id=profile.pk)
        .values_list("profile_id", flat=True)
        .first()
    )


# --- the timeline ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineCursor:
    """Where a page of the timeline ends: the last event's (timestamp, id)."""

    at: datetime
    pk: int

    def token(self) -> str:
        return time_id_token(self.at, self.pk)

    @classmethod
    def parse(cls, token: str | None) -> TimelineCursor | None:
        parsed = time_id_parse(token)
        return cls(*parsed) if parsed else None


@dataclass
class TimelineExtra:
    """An entry another app puts on the timeline (campaigns: a message sent to the person,
    or why one was not), drawn like a note: a badge, a line of text, an optional link."""

    at: datetime
    # The entry's id on the page ("message-12"), unique across the timeline.
    anchor: str
    badge: str
    # The badge's look: "ok", "warn", "off" (a failure) or "" (neutral).
    tone: str
    title: str
    detail: str = ""
    url: str = ""


# Called as extra(profile=…, since=…, until=…): the entries whose time is at or after
# `since` and before `until` (either None: unbounded), in any order, in one query.
TimelineExtras = Callable[..., list[TimelineExtra]]


def timeline_extras() -> list[TimelineExtras]:
    """The callables named by PROFILE_TIMELINE_EXTRAS, in order."""
    return [import_string(path) for path in getattr(settings, "PROFILE_TIMELINE_EXTRAS", [])]


@dataclass
class TimelineEntry:
    """An event, a note, consent recorded by a marketer, or another app's entry, at its
    time."""

    at: datetime
    event: Event | None = None
    note: ProfileNote | None = None
    consent: ConsentChange | None = None
    extra: TimelineExtra | None = None

    @property
    def local(self) -> datetime:
        return timezone.localtime(self.at)


@dataclass
class TimelineDay:
    day: date
    entries: list[TimelineEntry]
    # The day goes on from the previous page: no second heading for it.
    continued: bool = False


@dataclass
class TimelinePage:
    days: list[TimelineDay]
    next_cursor: TimelineCursor | None
    count: int


def _day_groups(entries: list[TimelineEntry], previous_day: date | None) -> list[TimelineDay]:
    days: list[TimelineDay] = []
    for entry in entries:
        day = entry.local.date()
        if not days or days[-1].day != day:
            days.append(TimelineDay(day, [], continued=not days and day == previous_day))
        days[-1].entries.append(entry)
    return days


def profile_timeline(
    *,
    profile: Profile,
    before: TimelineCursor | None = None,
    activity: str = "",
    source_id: int | None = None,
    limit: int = TIMELINE_PAGE_SIZE,
) -> TimelinePage:
    """One page of the timeline: `limit` events, newest first, with the notes written in
    the same stretch of time, grouped by day in the site's time zone.

    Three queries whatever the page, plus one per PROFILE_TIMELINE_EXTRAS entry: the events
    (keyset on (timestamp, id), see `ingestion.selectors.profile_events`), and the notes,
    the consent recorded on the profile page and the other apps' entries (campaign
    messages) between this page's oldest event and where the previous page ended, so each
    shows on exactly one page. Filtered timelines show events only.
    """
    events = ingestion_selectors.profile_events(
        profile_id=profile.pk,
        before=(before.at, before.pk) if before else None,
        activity=activity or None,
        source_id=source_id,
        limit=limit + 1,
    )
    more = len(events) > limit
    events = events[:limit]
    entries = [TimelineEntry(at=event.timestamp, event=event) for event in events]
    if not activity and source_id is None:
        notes = ProfileNote.objects.filter(profile=profile).select_related("author")
        if before is not None:
            notes = notes.filter(created_at__lt=before.at)
        if more:
            # The rest of the notes belong to the pages further down.
            notes = notes.filter(created_at__gte=events[-1].timestamp)
        entries += [TimelineEntry(at=note.created_at, note=note) for note in notes]
        # Consent recorded on the profile page has no event of its own: it shows here.
        # (Consent from identify calls shows as those calls.)
        recorded = ConsentChange.objects.filter(profile=profile, message_id="")
        if before is not None:
            recorded = recorded.filter(at__lt=before.at)
        if more:
            recorded = recorded.filter(at__gte=events[-1].timestamp)
        entries += [TimelineEntry(at=change.at, consent=change) for change in recorded]
        since = events[-1].timestamp if more else None
        until = before.at if before is not None else None
        for extra in timeline_extras():
            entries += [
                TimelineEntry(at=item.at, extra=item)
                for item in extra(profile=profile, since=since, until=until)
            ]
        # Newest first; at the same instant a note sits above the event it comments on.
        entries.sort(key=lambda e: (e.at, e.event is None), reverse=True)
    next_cursor = TimelineCursor(events[-1].timestamp, events[-1].pk) if more else None
    previous_day = timezone.localtime(before.at).date() if before else None
    return TimelinePage(_day_groups(entries, previous_day), next_cursor, len(entries))


# The calls that are not activities, as the timeline's filter names them.
_CALL_LABELS = {
    "page": "Page viewed",
    "screen": "Screen viewed",
    "identify": "Identify calls",
    "alias": "Alias calls",
    "group": "Group calls",
}


def timeline_activity_choices(*, profile: Profile, selected: str = "") -> list[tuple[str, str]]:
    """The timeline's activity filter: what this person did (among their newest events,
    see `ingestion.selectors.profile_activity_kinds`), named as the catalog names it,
    hidden activities left out; then the calls that are not activities. The activity
    asked for (`selected`) stays offered even when the person never did it.
    One query (see `ingestion.selectors.profile_activity_kinds`).
    """
    activities: list[tuple[str, str]] = []
    calls: list[tuple[str, str]] = []
    for kind, name, display_name, status in ingestion_selectors.profile_activity_kinds(
        profile_id=profile.pk
    ):
        if status == Activity.Status.HIDDEN:
            continue
        if kind == "track":
            activities.append((f"track:{name}", display_name or name))
        elif kind in ("page", "screen"):
            activities.append((kind, display_name or _CALL_LABELS[kind]))
        elif kind in _CALL_LABELS:
            calls.append((kind, _CALL_LABELS[kind]))
    choices = sorted(activities, key=lambda choice: choice[1].casefold()) + calls
    if selected and selected not in {value for value, _ in choices}:
        kind, _, name = selected.partition(":")
        choices.append((selected, name if kind == "track" else _CALL_LABELS.get(kind, selected)))
    return choices


def timeline_source_choices() -> list[tuple[int, str]]:
    return ingestion_selectors.source_choices()


def profile_merged_into(*, profile_id: int) -> int | None:
    """The profile a merged profile became (merge records follow later merges)."""
    return (
        ProfileMerge.objects.filter(merged_profile_id=profile_id)
        .values_list("survivor_id", flat=True)
        .first()
    )
