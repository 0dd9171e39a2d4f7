"""The segment builder's pages: new and edit (with live preview and "why is this person in
or out?"), duplicate and delete.

The builder is one form. Structure changes (add or remove a condition, change its kind,
field or activity) post the whole form to `segment-builder`, which redraws the tree; typing a
value only posts it to `segment-preview`, so the input being typed in is never redrawn and
keeps its focus. Saving posts the same form to the page itself.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, transaction
from django.db.models import Count, F, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from cdp_project.access.actors import Actor
from cdp_project.access.roles import change_required, reads_only
from cdp_project.core.db import query_canceled, statement_timeout_set
from cdp_project.core.http import MarketerRequest
from profiles.forms import ProfilePickForm
from profiles.models import Consent
from profiles.selectors import profile_count_estimate
from segments import builder, membership, services
from segments.compiler import segment_profiles
from segments.definition import DefinitionError, definition_parse, empty_group
from segments.explain import explain
from segments.forms import SegmentForm
from segments.models import Segment
from segments.sentence import definition_sentence
from segments.views import REFRESHING

logger = logging.getLogger(__name__)

TEMPLATE = "segments/builder.html"
# Who a campaign's email can reach: email consent granted and an address. Counted with the
# preview in the same query.
EMAIL_REACH = Count("pk", filter=Q(email_consent=Consent.GRANTED) & ~Q(email=""))
SAMPLE_SIZE = 10


def _segment_id(request: HttpRequest) -> int | None:
    """The segment being edited, from the builder form: it is left out of the "member of
    segment" picker and checked for cycles."""
    return builder.whole_number_or_none(request.POST.get("segment_id", ""))


def _page(
    request: HttpRequest,
    *,
    segment: Segment | None,
    form: SegmentForm,
    tree: dict[str, Any],
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    drawn = builder.builder_context(tree, segment_id=segment.pk if segment else None)
    context = {
        **drawn,
        # The tree as drawn, for the "why" form when it is sent without JavaScript.
        "tree_fields": builder.tree_form_data(drawn["root"].node),
        "segment": segment,
        "form": form,
        "definition_errors": errors or [],
        "page": "builder",
        "nav": "segments",
    }
    return render(request, TEMPLATE, context, status=status)


def _refreshed_after_save(
    request: HttpRequest, segment: Segment, *, known_size: int | None
) -> HttpResponse:
    """The segment's page after a save, its members counted. The save already queued a
    refresh; a segment that cannot be big (fewer profiles than "Refresh now" handles in the
    request, or no more members at the last refresh) is refreshed here at once, so its page
    opens with its size; a bigger one is left to the worker, and its page follows it."""
    limit = settings.SEGMENTS_INLINE_REFRESH_MAX
    small = profile_count_estimate() <= limit or (known_size is not None and known_size <= limit)
    result = membership.segment_refresh(segment, skip_locked=True) if small else None
    if result is None or result.error:
        # Being refreshed elsewhere, too big to wait for, or failed: the page says which and
        # updates itself when the queued refresh ends.
        messages.success(request, f"Segment “{segment.name}” saved; counting its members.")
        return redirect(f"{segment.get_absolute_url()}?{REFRESHING}=1")
    people = f"{result.size:,} {'person' if result.size == 1 else 'people'}"
    messages.success(request, f"Segment “{segment.name}” saved: {people}.")
    return redirect(segment.get_absolute_url())


def _save(request: MarketerRequest, segment: Segment | None) -> HttpResponse:
    form = SegmentForm(request.POST)
    tree = builder.tree_from_form(request.POST)
    action = request.POST.get("action", "save")
    if action != "save":
        # A structure change sent without JavaScript: redraw the page with it, save nothing.
        tree = builder.tree_apply(tree, action)
        return _page(request, segment=segment, form=form, tree=tree)
    errors: list[str] = []
    if form.is_valid():
        fields = {
            "name": form.cleaned_data["name"],
            "description": form.cleaned_data["description"],
            "definition": tree,
        }
        try:
            actor = Actor.from_request(request)
            if segment is None:
                saved = services.segment_create(actor=actor, **fields)
            else:
                saved = services.segment_update(actor=actor, segment=segment, **fields)
        except DefinitionError as error:
            errors = error.errors
        except Segment.DoesNotExist:
            raise Http404("This segment was deleted meanwhile.") from None
        else:
            known = segment.size if segment is not None else None
            return _refreshed_after_save(request, saved, known_size=known)
    else:
        # Say everything that stops the save at once, the conditions' problems too.
        try:
            definition_parse(tree, segment_id=segment.pk if segment else None)
        except DefinitionError as error:
            errors = error.errors
    return _page(request, segment=segment, form=form, tree=tree, errors=errors, status=400)


@login_required
@change_required
@require_http_methods(["GET", "POST"])
def segment_new(request: MarketerRequest) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None)
    return _page(request, segment=None, form=SegmentForm(), tree=empty_group())


@login_required
@change_required
@require_http_methods(["GET", "POST"])
def segment_edit(request: MarketerRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    if request.method == "POST":
        return _save(request, segment)
    form = SegmentForm(initial={"name": segment.name, "description": segment.description})
    tree = copy.deepcopy(segment.definition) if isinstance(segment.definition, dict) else None
    if not tree or tree.get("kind") != "group":
        tree = empty_group()
    return _page(request, segment=segment, form=form, tree=tree)


@login_required
@require_POST
def segment_builder(request: HttpRequest) -> HttpResponse:
    """Redraw the tree after a structure change; the preview follows (`segment-changed`)."""
    tree = builder.tree_from_form(request.POST)
    action = request.POST.get("action", "")
    if action:
        tree = builder.tree_apply(tree, action)
    context = builder.builder_context(tree, segment_id=_segment_id(request))
    response = render(request, f"{TEMPLATE}#builder", context)
    response["HX-Trigger-After-Settle"] = "segment-changed"
    return response


def _preview(tree: dict[str, Any], *, segment_id: int | None) -> dict[str, Any]:
    """Count, samples and sentence of the tree, or why it cannot be counted."""
    try:
        clean = definition_parse(tree, segment_id=segment_id)
    except DefinitionError as error:
        return {"errors": error.errors}
    try:
        with transaction.atomic():
            # The marketer waits: past SEGMENTS_PREVIEW_TIMEOUT_SECONDS the preview gives up
            # and says so (saving still works, and the refresh has a longer budget).
            statement_timeout_set(settings.SEGMENTS_PREVIEW_TIMEOUT_SECONDS * 1000)
            counts = (
                segment_profiles(clean).order_by().aggregate(count=Count("pk"), email=EMAIL_REACH)
            )
            samples = list(
                segment_profiles(clean)
                .defer("traits", "trait_times", "preferences", "last_viewed", "engagement_weeks")
                .order_by(F("last_seen").desc(nulls_last=True), "-pk")[:SAMPLE_SIZE]
            )
    except DatabaseError as error:
        if query_canceled(error):
            message = (
                "Counting took too long, so the preview stopped. The segment can still be "
                "saved: its members are counted in the background."
            )
        else:
            message = "The preview could not be counted; the log has the details."
        logger.warning("segment_preview_failed error=%s: %s", type(error).__name__, error)
        return {"errors": [message], "sentence": definition_sentence(clean)}
    except Exception:  # a checked tree the compiler still refuses: say so, never a 500
        logger.exception("segment_preview_failed")
        message = "The preview could not be counted; the log has the details."
        return {"errors": [message], "sentence": definition_sentence(clean)}
    return {
        "count": counts["count"],
        "email_reach": counts["email"],
        "samples": samples,
        "sentence": definition_sentence(clean),
    }


@reads_only
@login_required
@require_POST
def segment_preview(request: HttpRequest) -> HttpResponse:
    """The live count, ten sample profiles and the sentence of the tree being edited. An
    incomplete tree is normal while editing: the panel lists what is missing."""
    tree = builder.tree_from_form(request.POST)
    preview = _preview(tree, segment_id=_segment_id(request))
    return render(request, f"{TEMPLATE}#preview", {"preview": preview})


@login_required
@require_POST
def segment_explain(request: MarketerRequest) -> HttpResponse:
    """Why one profile (email, user id, name or #id) is in or out of the tree being edited."""
    # Prefixed: the conditions sent with the question have fields of their own.
    pick = ProfilePickForm(request.POST, prefix="explain").pick()
    context: dict[str, Any] = {"search": pick.search}
    if pick.problem:
        context["problem"] = pick.problem
    elif pick.profile is None:
        context["problem"] = "Enter an email, a user id, a name or a profile number (#42)."
    else:
        profile = pick.profile
        context.update(profile=profile, more=pick.more)
        try:
            clean = definition_parse(
                builder.tree_from_form(request.POST), segment_id=_segment_id(request)
            )
        except DefinitionError as error:
            context["errors"] = error.errors
        else:
            try:
                with transaction.atomic():
                    context["explained"] = explain(clean, profile)
            except Exception:  # the panel says so; the page and the draft stay usable
                logger.exception("segment_explain_failed profile_id=%s", profile.pk)
                context["problem"] = "The conditions could not be checked for this profile."
    if not request.htmx:
        # Asked without JavaScript: the answer on a page of its own.
        segment_id = _segment_id(request)
        segment = Segment.objects.filter(pk=segment_id).first() if segment_id else None
        context.update(page="explain", nav="segments", segment=segment)
        return render(request, TEMPLATE, context)
    return render(request, f"{TEMPLATE}#explain", context)


@login_required
@require_POST
def segment_duplicate(request: MarketerRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    try:
        copy_ = services.segment_duplicate(actor=Actor.from_request(request), segment=segment)
    except DefinitionError as error:
        messages.error(
            request,
            "This segment cannot be copied until its conditions are fixed: "
            + "; ".join(error.errors),
        )
        return redirect(segment.get_absolute_url())
    messages.success(request, f"Copied “{segment.name}”. Rename it and change what you need.")
    return redirect("segment-edit", pk=copy_.pk)


@login_required
@change_required
@require_http_methods(["GET", "POST"])
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    referencing = services.segment_referenced_by(segment_id=segment.pk)
    context = {"segment": segment, "referencing": referencing, "page": "delete", "nav": "segments"}
    if request.method == "GET":
        return render(request, TEMPLATE, context)
    try:
        services.segment_delete(actor=Actor.from_request(request), segment=segment)
    except services.SegmentInUse as error:
        context.update(referencing=error.segments, protected=error.others)
        return render(request, TEMPLATE, context, status=400)
    messages.success(request, f"Segment “{segment.name}” deleted.")
    return redirect(reverse("segments"))
