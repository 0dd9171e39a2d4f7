"""The analytics pages: funnel, retention and RFM, each with its CSV. Thin: a form reads
the choices, a selector computes, a template draws."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cdp_project.access.actors import Actor
from cdp_project.access.roles import change_required
from cdp_project.analytics import exports
from cdp_project.analytics.funnel import STEPS, Funnel, funnel_compute
from cdp_project.analytics.funnels import (
    FILTER_OPERATORS,
    MAX_STEPS,
    NO_VALUE,
    StepInput,
    custom_funnel_compute,
    steps_from_query,
    steps_from_saved,
    steps_parse,
)
from cdp_project.analytics.models import SavedFunnel
from cdp_project.analytics.retention import retention_cohorts
from cdp_project.analytics.rfm import GROUPS_BY_SLUG, SCORES, rfm_definition, rfm_grid
from cdp_project.analytics.services import funnel_save
from cdp_project.core.http import MarketerRequest
from ingestion.models import Source
from segments.builder.catalog import BuilderCatalog
from segments.definition import DefinitionError
from segments.models import Segment
from segments.selectors import csv_cell
from segments.services import segment_create

# The default first, so a form sent without a period shows the period it computes.
PERIODS = [("30", "Last 30 days"), ("7", "Last 7 days"), ("90", "Last 90 days")]


class FunnelForm(forms.Form):
    days = forms.ChoiceField(choices=PERIODS, required=False, label="Period")
    start = forms.DateField(required=False, label="From")
    end = forms.DateField(required=False, label="To")
    source = forms.ModelChoiceField(
        queryset=Source.objects.order_by("name"), required=False, empty_label="All sources"
    )
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name"), required=False, empty_label="Everyone"
    )

    def period(self) -> tuple[datetime, datetime]:
        """[start, end): the dates asked for (whole days, the site's time zone, both
        included), else the last 7, 30 or 90 days up to now (30 by default)."""
        data = self.cleaned_data if self.is_valid() else {}
        first, last = data.get("start"), data.get("end")
        if first and last and first <= last:
            return _midnight(first), _midnight(last + timedelta(days=1))
        now = timezone.now()
        return now - timedelta(days=int(data.get("days") or 30)), now


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


# The commerce funnel, as steps: what the step editor shows until a marketer changes it.
DEFAULT_STEPS = [StepInput(activity=f"role:{role}") for role, _label in STEPS]


@dataclass
class FunnelSteps:
    """The steps a funnel page shows: the commerce funnel's, a saved funnel's or the ones
    chosen, with what is wrong with them."""

    steps: list[StepInput]
    custom: bool
    saved: SavedFunnel | None = None
    errors: list[str] = field(default_factory=list)
    stored: list[dict[str, Any]] = field(default_factory=list)
    rows: list[StepInput] = field(default_factory=list)


def _funnel_steps(request: HttpRequest) -> FunnelSteps:
    saved = None
    steps = steps_from_query(request.GET)
    if not steps and request.GET.get("funnel", "").isdigit():
        saved = SavedFunnel.objects.filter(pk=int(request.GET["funnel"])).first()
        steps = steps_from_saved(saved.steps) if saved else []
    if not steps:
        steps = list(DEFAULT_STEPS)
    chosen = FunnelSteps(steps=steps, custom=steps != DEFAULT_STEPS, saved=saved)
    # One empty row to add a step with, up to the most a funnel has.
    chosen.rows = (steps + [StepInput(activity="")] * MAX_STEPS)[: min(len(steps) + 1, MAX_STEPS)]
    return chosen


def _step_label(step: StepInput, labels: dict[str, str]) -> str:
    label = labels.get(step.activity, step.activity.partition(":")[2] or step.activity)
    if not step.path:
        return label
    operator = dict(FILTER_OPERATORS).get(step.operator or "equals", step.operator)
    value = "" if step.operator in NO_VALUE else f" {step.value}"
    return f"{label}, where {step.path} {operator}{value}"


def _activity_choices() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    catalog = BuilderCatalog()
    return (
        [(c.value, c.label) for c in catalog.activities],
        [(c.value, c.label) for c in catalog.roles],
    )


def _funnel(
    request: HttpRequest,
) -> tuple[FunnelForm, Funnel | None, Source | None, Segment | None, FunnelSteps]:
    form = FunnelForm(request.GET or None)
    start, end = form.period()
    valid = form.is_valid()
    source = form.cleaned_data.get("source") if valid else None
    segment = form.cleaned_data.get("segment") if valid else None
    source_id = source.pk if source else None
    segment_id = segment.pk if segment else None
    chosen = _funnel_steps(request)
    if not chosen.custom:
        return (
            form,
            funnel_compute(start=start, end=end, source_id=source_id, segment_id=segment_id),
            source,
            segment,
            chosen,
        )
    try:
        nodes, chosen.stored = steps_parse(chosen.steps)
    except DefinitionError as error:
        chosen.errors = error.errors
        return form, None, source, segment, chosen
    activities, roles = _activity_choices()
    labels = dict(activities + roles)
    funnel = custom_funnel_compute(
        steps=nodes,
        labels=[_step_label(step, labels) for step in chosen.steps],
        start=start,
        end=end,
        source_id=source_id,
        segment_id=segment_id,
    )
    return form, funnel, source, segment, chosen


@login_required
@require_GET
def funnel_page(request: MarketerRequest) -> HttpResponse:
    form, funnel, source, segment, chosen = _funnel(request)
    activities, roles = _activity_choices()
    context = {
        "form": form,
        "funnel": funnel,
        "chosen": chosen,
        "activities": activities,
        "roles": roles,
        "filter_operators": FILTER_OPERATORS,
        "saved_funnels": SavedFunnel.objects.order_by("name"),
        "max_steps": MAX_STEPS,
        "source": source,
        "segment": segment,
        "period_end": (funnel.end if funnel else form.period()[1]) - timedelta(microseconds=1),
        "nav": "analytics",
        "tab": "funnel",
    }
    if request.htmx and request.htmx.target == "funnel-results":
        return render(request, "analytics/funnel.html#results", context)
    return render(request, "analytics/funnel.html", context)


@login_required
@require_GET
def funnel_csv(request: HttpRequest) -> StreamingHttpResponse:
    form, funnel, _, _, _ = _funnel(request)
    if funnel is None:  # steps that do not check: the commerce funnel, as the page says
        start, end = form.period()
        funnel = funnel_compute(start=start, end=end)
    return csv_response("funnel", exports.funnel_rows(funnel))


@change_required
@login_required
@require_POST
def funnel_save_view(request: HttpRequest) -> HttpResponse:
    """Save the steps sent (the page's own, as hidden fields) under the name typed."""
    name = request.POST.get("name", "").strip()[:200]
    steps = steps_from_query(request.POST)
    back = reverse("analytics-funnel")
    query = urlencode([(k, v) for k, v in request.POST.items() if k.startswith("s")])
    if not name:
        messages.error(request, "Give the funnel a name to save it.")
        return redirect(f"{back}?{query}")
    try:
        _nodes, stored = steps_parse(steps)
    except DefinitionError as error:
        messages.error(request, "The funnel was not saved: " + " ".join(error.errors))
        return redirect(f"{back}?{query}")
    saved = funnel_save(actor=Actor.from_request(request), name=name, steps=stored)
    messages.success(request, f"Funnel “{saved.name}” saved.")
    return redirect(f"{back}?funnel={saved.pk}")


WEEK_CHOICES = (8, 12, 26)


def _weeks(request: HttpRequest) -> int:
    value = request.GET.get("weeks", "")
    return int(value) if value in {str(w) for w in WEEK_CHOICES} else 12


@login_required
@require_GET
def retention_page(request: HttpRequest) -> HttpResponse:
    retention = retention_cohorts(weeks=_weeks(request))
    return render(
        request,
        "analytics/retention.html",
        {
            "retention": retention,
            "week_choices": WEEK_CHOICES,
            "time_zone": settings.TIME_ZONE,
            "nav": "analytics",
            "tab": "retention",
        },
    )


@login_required
@require_GET
def retention_csv(request: HttpRequest) -> StreamingHttpResponse:
    retention = retention_cohorts(weeks=_weeks(request))
    return csv_response("retention", exports.retention_rows(retention))


def _monetary(request: HttpRequest) -> int | None:
    value = request.GET.get("m", "") if request.method == "GET" else request.POST.get("m", "")
    return int(value) if value in {str(s) for s in SCORES} else None


def _score(value: str) -> int:
    if value not in {str(s) for s in SCORES}:
        raise Http404("No such RFM score.")
    return int(value)


@login_required
@require_GET
def rfm_page(request: HttpRequest) -> HttpResponse:
    grid = rfm_grid(monetary=_monetary(request))
    return render(
        request,
        "analytics/rfm.html",
        {
            "grid": grid,
            "scores": SCORES,
            "currency": settings.SITE_CURRENCY,
            "nav": "analytics",
            "tab": "rfm",
        },
    )


@login_required
@require_POST
def rfm_segment_save(request: HttpRequest) -> HttpResponse:
    """Save a named RFM group (`group`) or one cell (`r` and `f`) as a segment on the
    computed RFM scores, with the monetary score `m` when given; then show the segment."""
    monetary = _monetary(request)
    also = f", M {monetary}" if monetary is not None else ""
    slug = request.POST.get("group", "")
    if slug:
        group = GROUPS_BY_SLUG.get(slug)
        if group is None:
            raise Http404("No such RFM group.")
        boxes = group.boxes
        name = f"RFM: {group.name}{also}"
        rule = f"{group.rule}{also}"
    else:
        r, f = _score(request.POST.get("r", "")), _score(request.POST.get("f", ""))
        boxes = ((r, r, f, f),)
        name = f"RFM cell R {r}, F {f}{also}"
        rule = f"R {r}, F {f}{also}"
    segment = segment_create(
        actor=Actor.from_request(request),
        name=name,
        description=f"Saved from the RFM grid: {rule} (scores recomputed hourly).",
        definition=rfm_definition(boxes, monetary=monetary),
    )
    messages.success(request, f"Segment “{segment.name}” saved; its members are being counted.")
    return redirect("segment-detail", pk=segment.pk)


@login_required
@require_GET
def rfm_csv(request: HttpRequest) -> StreamingHttpResponse:
    return csv_response("rfm", exports.rfm_rows(rfm_grid()))


class _Line:
    def write(self, value: str) -> str:
        return value


def csv_response(name: str, rows: Iterable[list[Any]]) -> StreamingHttpResponse:
    """Rows as a CSV download named after the page and the day; spreadsheet-safe cells
    (event-derived names that look like formulas are neutralised)."""
    writer = csv.writer(_Line())

    def lines() -> Iterator[str]:
        for row in rows:
            yield writer.writerow([csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = f"{name}-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
