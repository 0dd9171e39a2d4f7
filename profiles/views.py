"""The marketer's profile pages: the list with search, one profile with its timeline."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cdp_project.access.actors import Actor
from cdp_project.core.forms import query_text
from cdp_project.core.http import MarketerRequest
from profiles import graph, selectors, services
from profiles.forms import ConsentForm, NoteForm
from profiles.models import Profile
from profiles.sections import profile_sections


def _search(request: HttpRequest) -> str:
    return query_text(request.GET, "q")


def _rfm_filter(request: HttpRequest) -> dict[str, int]:
    """The RFM scores asked for (`?rfm_r=5&rfm_f=4`); anything but 1 to 5 is ignored."""
    return {
        key: int(request.GET[key])
        for key in selectors.RFM_FILTERS
        if request.GET.get(key, "") in ("1", "2", "3", "4", "5")
    }


@login_required
@require_GET
def profile_list(request: MarketerRequest) -> HttpResponse:
    search = _search(request)
    rfm = _rfm_filter(request)
    after = selectors.ProfileCursor.parse(request.GET.get("after"))
    limit = selectors.PROFILES_PER_PAGE
    profiles = selectors.profile_search(search=search, rfm=rfm, after=after, limit=limit + 1)
    more = len(profiles) > limit
    profiles = profiles[:limit]
    last = profiles[-1] if profiles else None
    context = {
        "profiles": profiles,
        "search": search,
        "after": after,
        "next_cursor": selectors.ProfileCursor(last.last_seen, last.pk).token()
        if more and last
        else "",
        "total": None if search or rfm else selectors.profile_count_estimate(),
        "rfm": rfm,
        "currency": selectors.site_currency(),
        "nav": "profiles",
    }
    if request.htmx and request.htmx.target == "profile-rows":
        return render(request, "profiles/profile_list.html#rows", context)
    return render(request, "profiles/profile_list.html", context)


def _timeline_filters(request: HttpRequest) -> dict:
    source = request.GET.get("source", "")
    return {
        "activity": query_text(request.GET, "activity", max_length=300, strip=False),
        "source_id": int(source) if source.isdigit() and len(source) < 19 else None,
    }


def _timeline_context(request: HttpRequest, profile: Profile, *, first_page: bool = False):
    filters = _timeline_filters(request)
    before = None if first_page else selectors.TimelineCursor.parse(request.GET.get("before"))
    timeline = selectors.profile_timeline(profile=profile, before=before, **filters)
    return {
        "profile": profile,
        "timeline": timeline,
        "filters": filters,
        "before": before,
        "next_query": _next_query(filters, timeline.next_cursor),
    }


def _next_query(filters: dict, cursor: selectors.TimelineCursor | None) -> str:
    if cursor is None:
        return ""
    query = {"before": cursor.token()}
    if filters["activity"]:
        query["activity"] = filters["activity"]
    if filters["source_id"] is not None:
        query["source"] = filters["source_id"]
    return urlencode(query)


def _detail_context(request: HttpRequest, profile: Profile, *, note_form: NoteForm) -> dict:
    view = selectors.profile_view(profile=profile)
    return {
        **_timeline_context(request, profile),
        "view": view,
        # One id has nothing to draw: no graph, and none of its queries.
        "graph": graph.identity_graph(
            profile_id=profile.pk, identities=view.identities, merges=view.merges
        )
        if len(view.identities) > 1
        else None,
        "note_form": note_form,
        "activity_choices": selectors.timeline_activity_choices(
            profile=profile, selected=_timeline_filters(request)["activity"]
        ),
        "source_choices": selectors.timeline_source_choices(),
        "sections": profile_sections(profile=profile),
        "half_life_days": settings.ENGAGEMENT_HALF_LIFE_DAYS,
        "nav": "profiles",
    }


@login_required
@require_GET
def profile_detail(request: MarketerRequest, pk: int) -> HttpResponse:
    profile = Profile.objects.filter(pk=pk).first()
    if profile is None:
        # A link to a profile that was merged since leads to the person it became.
        survivor_id = selectors.profile_merged_into(profile_id=pk)
        if survivor_id is None:
            raise Http404("No such profile.")
        messages.info(request, f"Profile #{pk} was merged into this one.")
        return redirect("profile-detail", pk=survivor_id)
    if request.htmx and request.htmx.target in ("timeline-entries", "timeline-more"):
        # Filtering and "load more" redraw the timeline only: three queries, not the page.
        partial = "entries" if request.htmx.target == "timeline-entries" else "page"
        return render(
            request,
            f"profiles/profile_detail.html#timeline-{partial}",
            _timeline_context(request, profile),
        )
    context = _detail_context(request, profile, note_form=NoteForm())
    return render(request, "profiles/profile_detail.html", context)


@login_required
@require_POST
def profile_note_add(request: MarketerRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(Profile, pk=pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.profile_note_add(
                actor=Actor.from_request(request), profile=profile, body=form.cleaned_data["body"]
            )
        except ValidationError as error:
            form.add_error("body", error)
    if not form.is_valid():
        if request.htmx:
            context = {"profile": profile, "note_form": form}
            return render(request, "profiles/profile_detail.html#note-form", context, status=400)
        context = _detail_context(request, profile, note_form=form)
        return render(request, "profiles/profile_detail.html", context, status=400)
    if request.htmx:
        # A fresh form, and the timeline from its top (where the note now is), unfiltered.
        context = {
            **_timeline_context(request, profile, first_page=True),
            "note_form": NoteForm(),
            "note_added": True,
            "oob": True,
            "activity_choices": selectors.timeline_activity_choices(profile=profile),
            "source_choices": selectors.timeline_source_choices(),
        }
        return render(request, "profiles/profile_detail.html#note-added", context)
    messages.success(request, "Note added.")
    return redirect(reverse("profile-detail", args=[profile.pk]) + "#timeline")


@login_required
@require_POST
def profile_consent_set(request: MarketerRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(Profile, pk=pk)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a channel and opted in or out to record consent.")
        return redirect("profile-detail", pk=profile.pk)  # the message shows at the top
    change = services.profile_consent_set(
        actor=Actor.from_request(request),
        profile=profile,
        channel=form.cleaned_data["channel"],
        state=form.cleaned_data["state"],
        how=form.cleaned_data["how"],
    )
    messages.success(
        request, f"{change.get_channel_display()} consent recorded: {change.get_state_display()}."
    )
    return redirect("profile-detail", pk=profile.pk)  # the message shows at the top
