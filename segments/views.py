"""The marketer's segment pages: the list, one segment with its members and history, the
refresh button, the CSV export, and "why is this person in or out?"."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from cdp_project.core.http import MarketerRequest
from cdp_project.core.publish import task_publish
from profiles import selectors as profile_selectors
from profiles.models import Profile
from segments import membership, selectors
from segments.definition import DefinitionError, definition_parse
from segments.explain import explain
from segments.models import Segment


def _inline_refresh_max() -> int:
    """ "Refresh now" runs in the request up to this many members (as of the last refresh);
    bigger segments are handed to a worker, so the page never waits on a long query."""
    return settings.SEGMENTS_INLINE_REFRESH_MAX


def _refresh_every() -> str:
    """How often the scheduled refresh runs, in words ("5 minutes")."""
    schedule = settings.CELERY_BEAT_SCHEDULE.get("segments-refresh", {}).get("schedule")
    if not isinstance(schedule, timedelta):
        return ""
    seconds = int(schedule.total_seconds())
    if seconds % 3600 == 0:
        value, unit = seconds // 3600, "hour"
    elif seconds % 60 == 0:
        value, unit = seconds // 60, "minute"
    else:
        value, unit = seconds, "second"
    return unit if value == 1 else f"{value} {unit}s"


@login_required
@require_GET
def segment_list(request: HttpRequest) -> HttpResponse:
    context = {
        "segments": selectors.segment_list(),
        "trend_days": selectors.TREND_DAYS,
        "nav": "segments",
    }
    return render(request, "segments/segment_list.html", context)


def _members_context(request: HttpRequest, segment: Segment) -> dict:
    before = selectors.MemberCursor.parse(request.GET.get("before"))
    page = selectors.member_page(segment=segment, before=before)
    return {
        "segment": segment,
        "members": page.members,
        "before": before,
        "next_cursor": page.next_cursor.token() if page.next_cursor else "",
    }


# How long a page waits for a refresh it expects (one queued by a save, or running when
# "Refresh now" was pressed). A refresh takes a second or so; past this, the worker is busy or
# down and the scheduled refresh is the next news.
WATCH_FOR = timedelta(minutes=5)
_WATCH = re.compile(r"([0-9]{1,12})_([0-9]{1,20})_([0-9]{1,10})")


@dataclass(frozen=True)
class RefreshWatch:
    """What a segment's page showed when it started waiting for a refresh: when it started
    (seconds), and the segment's refresh state then. The page polls its size block until that
    state changes: a refresh finished, or failed."""

    started: int
    state: tuple[int, int]

    @classmethod
    def start(cls, segment: Segment) -> RefreshWatch:
        return cls(int(timezone.now().timestamp()), _refresh_state(segment))

    @classmethod
    def parse(cls, token: str | None) -> RefreshWatch | None:
        match = _WATCH.fullmatch(token or "")
        if not match:
            return None
        return cls(int(match.group(1)), (int(match.group(2)), int(match.group(3))))

    def token(self) -> str:
        return f"{self.started}_{self.state[0]}_{self.state[1]}"

    def __str__(self) -> str:
        return self.token()

    def expired(self) -> bool:
        return timezone.now().timestamp() - self.started > WATCH_FOR.total_seconds()


def _refresh_state(segment: Segment) -> tuple[int, int]:
    """When the last refresh finished (microseconds) and what the last one that failed said
    (a checksum): a refresh, good or bad, changes one of them."""
    finished = round(segment.refreshed_at.timestamp() * 1_000_000) if segment.refreshed_at else 0
    return finished, zlib.crc32(segment.refresh_error.encode())


def _refresh_expected(segment: Segment, *, asked: bool) -> bool:
    """Whether a refresh is on its way: "Refresh now" said one is running (`asked`), or the
    definition was saved after the last refresh (a save queues one) a short while ago."""
    if asked:
        return True
    pending = segment.refreshed_at is None or segment.updated_at > segment.refreshed_at
    return pending and timezone.now() - segment.updated_at < WATCH_FOR


def _page_context(request: HttpRequest, segment: Segment) -> dict:
    return {
        **_members_context(request, segment),
        "history": selectors.size_history(segment=segment),
        "history_days": selectors.HISTORY_DAYS,
        "changes": selectors.recent_changes(segment=segment),
        "refresh_every": _refresh_every(),
        "nav": "segments",
    }


def _watched(request: HttpRequest, segment: Segment, watch: RefreshWatch) -> HttpResponse:
    """A poll of the size block while a refresh is expected: the block again (still polling)
    until the refresh state changes, then the block without polling and, out of band, the
    rest of the page that the refresh changed. After WATCH_FOR the block stops polling."""
    template = "segments/segment_detail.html"
    if watch.state == _refresh_state(segment):
        context = {"segment": segment, "refresh_every": _refresh_every()}
        if not watch.expired():
            context["watch"] = watch
        return render(request, f"{template}#size", context)
    context = {**_page_context(request, segment), "oob": True}
    return render(request, f"{template}#refreshed", context)


@login_required
@require_GET
def segment_detail(request: MarketerRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    if request.htmx and request.htmx.target == "members":
        # Paging through members redraws the member list only.
        return render(
            request,
            "segments/segment_detail.html#members",
            _members_context(request, segment),
        )
    watch = RefreshWatch.parse(request.GET.get("watch"))
    if request.htmx and watch is not None:
        return _watched(request, segment, watch)
    context = _page_context(request, segment)
    if _refresh_expected(segment, asked=REFRESHING in request.GET):
        context["watch"] = RefreshWatch.start(segment)
    return render(request, "segments/segment_detail.html", context)


def _people(count: int) -> str:
    return f"{count:,} {'person' if count == 1 else 'people'}"


# The query parameter that tells a segment's page a refresh is running.
REFRESHING = "refreshing"


def _refreshing(segment: Segment) -> HttpResponse:
    """The segment's page, waiting for the refresh that is running."""
    return redirect(f"{segment.get_absolute_url()}?{REFRESHING}=1")


@login_required
@require_POST
def segment_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    if segment.size is not None and segment.size > _inline_refresh_max():
        if not task_publish("segments.refresh", args=[segment.pk]):
            # The broker is down; the scheduled refresh still runs.
            messages.error(
                request,
                "The refresh could not be queued right now; the scheduled refresh will bring "
                "the segment up to date.",
            )
            return redirect(segment)
        messages.info(
            request,
            f"This segment has {_people(segment.size)}: it is being refreshed in the "
            "background; the page updates when it ends.",
        )
        return _refreshing(segment)
    # Never wait behind a refresh already running (the schedule's, or another click): it
    # brings the same news, and the page shows it when it ends.
    result = membership.segment_refresh(segment, skip_locked=True)
    if result is None:
        if not Segment.objects.filter(pk=segment.pk).exists():
            raise Http404("No such segment.")  # deleted meanwhile
        messages.info(request, "A refresh is already running; the page updates when it ends.")
        return _refreshing(segment)
    if result.error:
        messages.error(request, f"The refresh failed: {result.error}")
    else:
        messages.success(
            request,
            f"Refreshed in {result.ms:,} ms: {_people(result.size)}, "
            f"{result.entered:,} entered and {result.exited:,} left.",
        )
    return redirect(segment)


@login_required
@require_GET
def segment_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    name = slugify(segment.name)[:80] or "segment"
    filename = f"{name}-{timezone.localdate():%Y-%m-%d}.csv"
    response = StreamingHttpResponse(
        selectors.members_csv(segment=segment), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Personal data: no copy in a shared cache or the browser's.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def segment_why(request: HttpRequest, pk: int, profile_pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    profile = Profile.objects.filter(pk=profile_pk).first()
    if profile is None:
        # A link to a profile merged since leads to the person it became.
        survivor_id = profile_selectors.profile_merged_into(profile_id=profile_pk)
        if survivor_id is None:
            raise Http404("No such profile.")
        messages.info(request, f"Profile #{profile_pk} was merged into this one.")
        return redirect("segment-why", pk=segment.pk, profile_pk=survivor_id)
    explained, errors = None, []
    try:
        tree = definition_parse(segment.definition, segment_id=segment.pk)
        explained = explain(tree, profile)
    except DefinitionError as error:
        errors = error.errors
    context = {
        "segment": segment,
        "profile": profile,
        "explained": explained,
        "errors": errors,
        "status": selectors.member_status(segment=segment, profile=profile),
        "nav": "segments",
    }
    return render(request, "segments/why.html", context)
