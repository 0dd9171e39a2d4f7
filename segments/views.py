"""The marketer's segment pages: the list, one segment with its members and history, the
refresh button, the CSV export, and "why is this person in or out?"."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from profiles import selectors as profile_selectors
from profiles.models import Profile
from segments import membership, selectors
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


@login_required
@require_GET
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    if request.htmx and request.htmx.target == "members":
        # Paging through members redraws the member list only.
        return render(
            request,
            "segments/segment_detail.html#members",
            _members_context(request, segment),
        )
    context = {
        **_members_context(request, segment),
        "history": selectors.size_history(segment=segment),
        "history_days": selectors.HISTORY_DAYS,
        "changes": selectors.recent_changes(segment=segment),
        "refresh_every": _refresh_every(),
        "nav": "segments",
    }
    return render(request, "segments/segment_detail.html", context)


def _people(count: int) -> str:
    return f"{count:,} {'person' if count == 1 else 'people'}"


@login_required
@require_POST
def segment_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    if segment.size is not None and segment.size > _inline_refresh_max():
        from segments.tasks import refresh

        try:
            refresh.apply_async(args=[segment.pk], retry=False)
        except Exception:  # the broker is down; the scheduled refresh still runs
            messages.error(
                request,
                "The refresh could not be queued right now; the scheduled refresh will bring "
                "the segment up to date.",
            )
        else:
            messages.info(
                request,
                f"This segment has {_people(segment.size)}: it is being refreshed in the "
                "background. Reload the page in a minute to see the result.",
            )
        return redirect(segment)
    result = membership.segment_refresh(segment)
    if result is None:
        raise Http404("No such segment.")  # deleted meanwhile
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
def segment_export(request: HttpRequest, pk: int) -> HttpResponse:
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
    from segments.definition import DefinitionError, definition_clean
    from segments.explain import explain

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
        tree = definition_clean(segment.definition, segment_id=segment.pk)
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
