"""The catalog pages: activities, one activity, profile attributes, products."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from cdp_project.access.actors import Actor
from cdp_project.access.roles import user_can_change
from cdp_project.core.forms import query_text
from cdp_project.core.http import MarketerRequest
from ingestion import selectors as ingestion_selectors
from ingestion.catalog import selectors, services
from ingestion.catalog.forms import ActivityForm, FieldForm, ProductImportForm
from ingestion.catalog.products import ImportRefused, check_csv_size, products_import_csv
from ingestion.catalog.snippets import activity_snippets
from ingestion.models import Activity, ActivityProperty, CommerceRole, ProfileAttribute

PAGE_SIZE = 50


def _search(request: HttpRequest, name: str = "q") -> str:
    return query_text(request.GET, name)


@login_required
@require_GET
def activity_list(request: MarketerRequest) -> HttpResponse:
    filters = {
        "search": _search(request),
        "status": request.GET.get("status", ""),
        "role": request.GET.get("role", ""),
        "kind": request.GET.get("kind", ""),
    }
    if filters["status"] not in Activity.Status.values:
        filters["status"] = ""
    if filters["kind"] not in Activity.Kind.values:
        filters["kind"] = ""
    if filters["role"] not in [*CommerceRole.values, "any", "none"] or not filters["role"]:
        filters["role"] = ""
    page = Paginator(selectors.activity_list(**filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "rows": selectors.activity_rows(list(page)),
        "filters": filters,
        "status_counts": selectors.activity_status_counts(),
        "statuses": Activity.Status.choices,
        "roles": CommerceRole.choices[1:],
        "kinds": Activity.Kind.choices,
        "nav": "activities",
        "tab": "activities",
    }
    if request.htmx and request.htmx.target == "activity-rows":
        return render(request, "catalog/activity_list.html#rows", context)
    return render(request, "catalog/activity_list.html", context)


def _field_rows(fields, denominator: int):
    for field in fields:
        field.coverage = round(100 * field.volume / denominator) if denominator else None
    return fields


@login_required
def activity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    activity = get_object_or_404(Activity, pk=pk)
    if request.method == "POST":
        form = ActivityForm(request.POST)
        if form.is_valid():
            services.activity_update(
                actor=Actor.from_request(request), activity=activity, **form.cleaned_data
            )
            if activity.status == Activity.Status.BLOCKED:
                messages.success(request, f"“{activity.label}” is blocked: its events are refused.")
            else:
                messages.success(request, "Activity saved.")
            return redirect("activity-detail", pk=activity.pk)
        status = 400
    else:
        form = ActivityForm(
            initial={
                "display_name": activity.display_name,
                "description": activity.description,
                "role": activity.role,
                "status": activity.status,
                "engagement_points": activity.engagement_points,
            }
        )
        status = 200
    properties = list(selectors.activity_properties(activity=activity))
    _field_rows(properties, activity.volume)
    events = list(selectors.activity_recent_events(activity=activity))
    source = events[0].source if events else None
    key = ingestion_selectors.source_active_write_key(source=source) if source else None
    context = {
        "activity": activity,
        "form": form,
        "properties": properties,
        "drifting": sum(1 for p in properties if p.has_drift),
        "events": events,
        "daily": selectors.activity_daily_volumes(activity_ids=[activity.pk])[activity.pk],
        "snippets": activity_snippets(
            activity=activity,
            fields=properties,
            base_url=request.build_absolute_uri("/").rstrip("/"),
            write_key=key.key if key and user_can_change(request.user) else "YOUR_WRITE_KEY",
        ),
        "snippet_source": source,
        "nav": "activities",
        "tab": "activities",
    }
    return render(request, "catalog/activity_detail.html", context, status=status)


def _field_suggestion(
    request: MarketerRequest, field, *, answer: str, denominator: int, back: str
) -> HttpResponse:
    """The marketer's answer to "its values look like emails: mark it personal?"."""
    actor = Actor.from_request(request)
    if answer == "confirm":
        services.field_personal_confirm(actor=actor, field=field)
        done = f"“{field.label}” is marked personal: no example values are kept."
    elif answer == "dismiss":
        services.field_personal_dismiss(actor=actor, field=field)
        done = f"“{field.label}” stays not personal."
    else:
        return HttpResponse("Answer confirm or dismiss.", status=400, content_type="text/plain")
    if request.htmx:
        _field_rows([field], denominator)
        return render(request, "catalog/fields.html#field-row", {"field": field, "saved": True})
    messages.success(request, done)
    return redirect(back)


def _field_edit(request: MarketerRequest, field, *, denominator: int, back: str) -> HttpResponse:
    answer = request.POST.get("suggestion")
    if answer is not None:
        return _field_suggestion(request, field, answer=answer, denominator=denominator, back=back)
    form = FieldForm(request.POST)
    if not form.is_valid():
        _field_rows([field], denominator)
        context = {"field": field, "edit_form": form, "open": True}
        return render(request, "catalog/fields.html#field-row", context, status=400)
    services.field_update(actor=Actor.from_request(request), field=field, **form.cleaned_data)
    if request.htmx:
        _field_rows([field], denominator)
        return render(request, "catalog/fields.html#field-row", {"field": field, "saved": True})
    messages.success(request, f"“{field.label}” saved.")
    return redirect(back)


@login_required
@require_POST
def property_edit(request: MarketerRequest, pk: int, property_pk: int) -> HttpResponse:
    field = get_object_or_404(
        ActivityProperty.objects.select_related("activity"), pk=property_pk, activity_id=pk
    )
    return _field_edit(
        request,
        field,
        denominator=field.activity.volume,
        back=f"{field.activity.get_absolute_url()}#properties",
    )


@login_required
@require_GET
def attribute_list(request: HttpRequest) -> HttpResponse:
    search = _search(request)
    identifies = selectors.identify_count()
    attributes = _field_rows(list(selectors.profile_attribute_list(search=search)), identifies)
    context = {
        "attributes": attributes,
        "identifies": identifies,
        "search": search,
        "nav": "activities",
        "tab": "attributes",
    }
    return render(request, "catalog/attribute_list.html", context)


@login_required
@require_POST
def attribute_edit(request: MarketerRequest, pk: int) -> HttpResponse:
    field = get_object_or_404(ProfileAttribute, pk=pk)
    return _field_edit(
        request, field, denominator=selectors.identify_count(), back="/activities/attributes/"
    )


@login_required
def product_list(request: MarketerRequest) -> HttpResponse:
    if request.method == "POST":
        form = ProductImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                check_csv_size(upload.size)
                result = products_import_csv(
                    actor=Actor.from_request(request), data=upload.read(), file_name=upload.name
                )
            except ImportRefused as refused:
                form.add_error("file", str(refused))
            else:
                messages.success(
                    request,
                    f"Imported {result.imported} product{'s' if result.imported != 1 else ''}: "
                    f"{result.created} new, {result.updated} updated.",
                )
                for line, error in result.errors[:20]:
                    messages.error(request, f"Line {line} skipped: {error}")
                if len(result.errors) > 20:
                    messages.error(request, f"… and {len(result.errors) - 20} more lines skipped.")
                return redirect("product-list")
        status = 400
    else:
        form = ProductImportForm()
        status = 200
    search = _search(request)
    page = Paginator(selectors.product_search(search=search), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "search": search,
        "form": form,
        "nav": "activities",
        "tab": "products",
    }
    if request.htmx and request.htmx.target == "product-rows":
        return render(request, "catalog/product_list.html#rows", context)
    return render(request, "catalog/product_list.html", context, status=status)
