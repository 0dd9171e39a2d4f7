"""The journey editor: a new journey from the Campaigns page, and the page that edits its
draft (trigger, steps, settings), publishes it, and moves people in flight to the latest
version.

Every change is a plain form post answered with a redirect to the editor (or the editor
with the form's errors, status 400); the page boosts its forms and links with htmx, so a
change redraws the page's main part without a full reload. The draft is changed through
`journey_draft_save`, never a published version.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from campaigns import services
from campaigns.journey_forms import (
    STEP_FORMS,
    JourneySettingsForm,
    NewJourneyForm,
    StepForm,
    TriggerForm,
    filter_rows,
)
from campaigns.journeys import editor
from campaigns.journeys.definition import STEP_TYPES, JourneyError, journey_parse, journey_to_json
from campaigns.journeys.editor import ALL_OPERATORS
from campaigns.journeys.services import (
    JourneyNotReady,
    journey_create,
    journey_draft_save,
    journey_move_to_latest,
    journey_problems,
    journey_publish,
)
from campaigns.models import Campaign, Enrollment
from cdp_project.access.actors import Actor
from segments.builder import BuilderCatalog

NAV = "campaigns"


def _journey(pk: int) -> Campaign:
    campaign = get_object_or_404(Campaign.objects.select_related("version", "audience"), pk=pk)
    if not campaign.is_journey:
        raise Http404("Not a journey.")
    return campaign


def _back(campaign: Campaign, anchor: str = "") -> HttpResponse:
    url = reverse("journey-editor", args=[campaign.pk])
    return redirect(url + (f"#{anchor}" if anchor else ""))


def _live_differs(campaign: Campaign) -> bool:
    if campaign.version is None:
        return False
    try:
        draft = journey_to_json(journey_parse(campaign.draft))
    except JourneyError:
        return True
    return draft != campaign.version.definition


def _versions(campaign: Campaign) -> list[dict[str, Any]]:
    in_flight = dict(
        Enrollment.objects.filter(campaign=campaign, state=Enrollment.State.PENDING)
        .values_list("version")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [
        {"version": v, "in_flight": in_flight.get(v.pk, 0), "live": v.pk == campaign.version_id}
        for v in campaign.versions.order_by("-number")
    ]


def _paths(catalog: BuilderCatalog, form: Any) -> list[str]:
    """The properties a step form's filters can name: those of its activity."""
    if form is None:
        return []
    stored = form.stored
    selector = stored.get("activity")
    if stored.get("type") == "split":
        selector = (stored.get("did") or {}).get("activity")
    return list(catalog.properties(selector if isinstance(selector, dict) else None))


def _step_form(step: dict[str, Any], catalog: BuilderCatalog, data: Any = None) -> StepForm:
    form_class = STEP_FORMS.get(str(step.get("type")), STEP_FORMS["exit"])
    return form_class(data, stored=step, catalog=catalog)


def _editor(
    request: HttpRequest,
    campaign: Campaign,
    *,
    status: int = 200,
    open_form: str = "",
    form: Any = None,
    trigger_form: TriggerForm | None = None,
    settings_form: JourneySettingsForm | None = None,
) -> HttpResponse:
    draft = campaign.draft if isinstance(campaign.draft, dict) else {}
    catalog = BuilderCatalog()
    segments = {int(c.value): c.label for c in catalog.segments}
    problems = journey_problems(draft)
    drawing = editor.drawing(draft, problems, segments)
    open_form = open_form or request.GET.get("edit", "")
    if form is None and open_form and open_form not in ("trigger", "settings"):
        step = editor.step_find(draft, open_form)
        if step is not None:
            form = _step_form(step, catalog)
        else:
            open_form = ""
    found = draft.get("trigger")
    trigger: dict[str, Any] = found if isinstance(found, dict) else {}
    if trigger_form is None:
        kind = request.GET.get("kind", "")
        stored = dict(trigger)
        if kind and kind != stored.get("kind"):
            stored = {"kind": kind}
        trigger_form = TriggerForm(stored=stored, catalog=catalog)
    if settings_form is None:
        settings_form = JourneySettingsForm(
            instance=Campaign.objects.get(pk=campaign.pk), draft=draft, catalog=catalog
        )
    if form is not None and not form.is_bound and form.fields:
        next(iter(form.fields.values())).widget.attrs["autofocus"] = True
    if open_form == "trigger":
        # With JavaScript, choosing another kind shows its fields at once (the button
        # beside it does the same without).
        trigger_form.fields["kind"].widget.attrs.update(
            {
                "hx-get": reverse("journey-editor", args=[campaign.pk]) + "?edit=trigger",
                "hx-trigger": "change",
            }
        )
        if not trigger_form.is_bound:
            trigger_form.fields["kind"].widget.attrs["autofocus"] = True
    trigger_problems = [
        p for p in drawing.general if p.startswith(("Trigger", "Broadcast", "Choose a trigger"))
    ]
    context = {
        "campaign": campaign,
        "draft": draft,
        "drawing": drawing,
        "problems": problems,
        "general_problems": [p for p in drawing.general if p not in trigger_problems],
        "trigger_problems": trigger_problems,
        "trigger_words": editor.trigger_words(trigger, segments),
        "trigger_form": trigger_form,
        "trigger_filters": filter_rows(trigger_form.where),
        "settings_form": settings_form,
        "open_form": open_form,
        "form": form,
        "filters": filter_rows(getattr(form, "where", [])) if form is not None else [],
        "filter_paths": _paths(catalog, form),
        "trigger_paths": list(catalog.properties(trigger.get("activity"))),
        "operators": ALL_OPERATORS,
        "step_types": STEP_TYPES,
        "versions": _versions(campaign),
        "live_differs": _live_differs(campaign),
        "campaign_problems": services.campaign_problems(campaign),
        "catalog": catalog,
        "nav": NAV,
    }
    return render(request, "campaigns/journey_editor.html", context, status=status)


# --- creating -------------------------------------------------------------------------------


@login_required
@require_POST
def journey_new(request: HttpRequest) -> HttpResponse:
    form = NewJourneyForm(request.POST)
    if not form.is_valid():
        for _field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"The journey was not created: {error}")
        return redirect(reverse("campaigns") + "#new-journey")
    campaign = journey_create(
        actor=Actor.from_request(request),
        name=form.cleaned_data["name"],
        template=form.cleaned_data["template"],
    )
    messages.success(request, f"“{campaign.name}” is created as a draft. Build it below.")
    return redirect("journey-editor", pk=campaign.pk)


# --- the editor -----------------------------------------------------------------------------


@login_required
@require_GET
def journey_editor(request: HttpRequest, pk: int) -> HttpResponse:
    return _editor(request, _journey(pk))


def _save(request: HttpRequest, campaign: Campaign, draft: dict[str, Any], said: str) -> None:
    try:
        problems = journey_draft_save(
            actor=Actor.from_request(request), campaign=campaign, definition=draft
        )
    except JourneyNotReady as error:
        messages.error(request, " ".join(error.problems))
        return
    tail = (
        f" {len(problems)} problem{'s' if len(problems) != 1 else ''} left before publishing."
        if problems
        else " Ready to publish."
    )
    messages.success(request, said + tail)


@login_required
@require_POST
def journey_trigger(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _journey(pk)
    catalog = BuilderCatalog()
    stored = (
        campaign.draft.get("trigger") if isinstance(campaign.draft.get("trigger"), dict) else {}
    )
    form = TriggerForm(request.POST, stored=stored or {}, catalog=catalog)
    if "show" in request.POST:  # without JavaScript: the fields of the kind chosen
        return redirect(
            reverse("journey-editor", args=[pk])
            + "?"
            + urlencode({"edit": "trigger", "kind": request.POST.get("kind", "")[:20]})
            + "#trigger"
        )
    if not form.is_valid():
        return _editor(request, campaign, status=400, open_form="trigger", trigger_form=form)
    draft = dict(campaign.draft)
    draft["trigger"] = form.trigger()
    _save(request, campaign, draft, "The trigger is saved.")
    return _back(campaign, "trigger")


@login_required
@require_POST
def journey_step(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    campaign = _journey(pk)
    stored = editor.step_find(campaign.draft, step)
    if stored is None:
        messages.error(request, "That step is no longer in the draft.")
        return _back(campaign)
    catalog = BuilderCatalog()
    form = _step_form(stored, catalog, request.POST)
    if not form.is_valid():
        return _editor(request, campaign, status=400, open_form=step, form=form)
    try:
        draft = editor.step_replace(campaign.draft, form.step())
    except editor.EditError as error:
        messages.error(request, str(error))
        return _back(campaign)
    _save(
        request,
        campaign,
        draft,
        f"“{STEP_TYPES.get(str(stored.get('type')), 'The step')}” is saved.",
    )
    return _back(campaign, f"step-{step}")


@login_required
@require_POST
def journey_step_add(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _journey(pk)
    kind = request.POST.get("type", "")
    try:
        draft, step_id = editor.step_add(
            campaign.draft, kind, request.POST.get("after", ""), request.POST.get("branch", "")
        )
    except editor.EditError as error:
        messages.error(request, str(error))
        return _back(campaign)
    _save(request, campaign, draft, f"A “{STEP_TYPES[kind]}” step is added: fill it in below.")
    url = reverse("journey-editor", args=[pk])
    return redirect(f"{url}?edit={step_id}#step-{step_id}")


@login_required
@require_POST
def journey_step_remove(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    campaign = _journey(pk)
    try:
        draft, words = editor.step_remove(campaign.draft, step)
    except editor.EditError as error:
        messages.error(request, str(error))
        return _back(campaign)
    _save(request, campaign, draft, f"The step is removed. {words}")
    return _back(campaign, "steps")


@login_required
@require_POST
def journey_step_move(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    campaign = _journey(pk)
    direction = request.POST.get("direction", "")
    if direction not in ("up", "down"):
        messages.error(request, "Move a step up or down.")
        return _back(campaign)
    try:
        draft = editor.step_move(campaign.draft, step, direction)
    except editor.EditError as error:
        messages.error(request, str(error))
        return _back(campaign)
    _save(request, campaign, draft, f"The step is moved {direction}.")
    return _back(campaign, f"step-{step}")


@login_required
@require_POST
def journey_settings(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _journey(pk)
    catalog = BuilderCatalog()
    form = JourneySettingsForm(
        request.POST, instance=Campaign.objects.get(pk=pk), draft=campaign.draft, catalog=catalog
    )
    if not form.is_valid():
        return _editor(request, campaign, status=400, open_form="settings", settings_form=form)
    actor = Actor.from_request(request)
    services.campaign_update(
        actor=actor,
        campaign=campaign,
        values=form.values(),
        summary=", ".join(sorted(form.changed_data)),
    )
    _save(request, campaign, form.draft_changed(), "The settings are saved.")
    return _back(campaign, "settings")


def _problems_count(problems: list[str]) -> str:
    return f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"


@login_required
@require_POST
def journey_publish_view(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _journey(pk)
    try:
        version = journey_publish(actor=Actor.from_request(request), campaign=campaign)
    except JourneyNotReady as error:
        messages.error(
            request,
            f"Not published: {_problems_count(error.problems)} to correct first "
            "(listed on the page).",
        )
        return _back(campaign, "problems")
    live = "" if campaign.status == Campaign.Status.ACTIVE else " Activate it to let people in."
    messages.success(request, f"Version {version.number} is published: new entries take it.{live}")
    return _back(campaign, "versions")


@login_required
@require_POST
def journey_move_view(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _journey(pk)
    moved = journey_move_to_latest(actor=Actor.from_request(request), campaign=campaign)
    number = campaign.version.number if campaign.version else 0
    messages.success(
        request,
        f"{moved} {'person' if moved == 1 else 'people'} in flight moved to version {number}; "
        "anyone waiting at a step the latest version does not have stays where they are.",
    )
    return _back(campaign, "versions")
