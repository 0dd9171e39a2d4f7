"""The Sources pages: sources, their write keys and SDK snippets, and the live debugger."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from cdp_project.access.actors import Actor
from cdp_project.access.roles import user_can_change
from cdp_project.core.http import MarketerRequest
from ingestion import selectors, services
from ingestion.forms import NewSourceForm, SourceForm
from ingestion.models import Event, Source, WriteKey
from ingestion.sdk_settings import sdk_switch_lines
from ingestion.tracker import tracker_snippet

DEBUGGER_ROWS = 50


def _int_param(request: HttpRequest, name: str) -> int | None:
    try:
        return int(request.GET[name])
    except (KeyError, ValueError):
        return None


def _sources_with_latest_event():
    # One index probe per source on (source, id), never an aggregate over all events.
    latest = Event.objects.filter(source=OuterRef("pk")).order_by("-pk").values("received_at")
    return Source.objects.annotate(latest_event_at=Subquery(latest[:1])).prefetch_related(
        "write_keys"
    )


@login_required
@require_GET
def source_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "ingestion/source_list.html",
        {"sources": _sources_with_latest_event(), "form": NewSourceForm(), "nav": "sources"},
    )


@login_required
@require_POST
def source_new(request: HttpRequest) -> HttpResponse:
    form = NewSourceForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "ingestion/source_list.html",
            {"sources": _sources_with_latest_event(), "form": form, "nav": "sources"},
            status=400,
        )
    source = services.source_create(
        actor=Actor.from_request(request),
        name=form.cleaned_data["name"],
        kind=form.cleaned_data["kind"],
        allowed_origins=form.cleaned_data["allowed_origins"],
    )
    messages.success(request, f"Source “{source.name}” created with its first write key.")
    return redirect("source-detail", pk=source.pk)


def _detail_context(request: HttpRequest, source: Source, form: SourceForm) -> dict:
    events = list(selectors.source_latest_events(source=source, limit=DEBUGGER_ROWS))
    refusals = list(selectors.source_latest_refusals(source=source, limit=DEBUGGER_ROWS))
    key = selectors.source_active_write_key(source=source)
    # A write key sends data: a read-only user sees which keys exist, not the keys.
    snippet_key = key.key if key and user_can_change(request.user) else "YOUR_WRITE_KEY"
    base_url = request.build_absolute_uri("/").rstrip("/")
    return {
        "source": source,
        "form": form,
        "keys": source.write_keys.all(),
        "snippet_key": snippet_key,
        "base_url": base_url,
        "tracker_snippet": tracker_snippet(write_key=snippet_key, host=base_url),
        "switch_lines": sdk_switch_lines(write_key=snippet_key, base_url=base_url),
        "events": events,
        "refusals": refusals,
        "events_after": events[0].pk if events else 0,
        "refusals_after": refusals[0].pk if refusals else 0,
        "nav": "sources",
    }


@login_required
def source_detail(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    if request.method == "POST":
        form = SourceForm(request.POST, instance=source)
        if form.is_valid():
            services.source_update(
                actor=Actor.from_request(request), source=source, **form.cleaned_data
            )
            messages.success(request, "Source settings saved.")
            return redirect("source-detail", pk=source.pk)
        status = 400
    else:
        form = SourceForm(
            instance=source,
            initial={
                "name": source.name,
                "kind": source.kind,
                "enabled": source.enabled,
                "allowed_origins": "\n".join(source.allowed_origins),
            },
        )
        status = 200
    return render(
        request,
        "ingestion/source_detail.html",
        _detail_context(request, source, form),
        status=status,
    )


@login_required
@require_POST
def source_key_create(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    key = services.write_key_create(
        actor=Actor.from_request(request),
        source=source,
        label=request.POST.get("label", "")[:100],
    )
    messages.success(
        request,
        f"New write key {key.key[:6]}… created. Move your senders to it, then revoke the old one.",
    )
    return redirect("source-detail", pk=source.pk)


@login_required
@require_POST
def source_key_revoke(request: HttpRequest, pk: int, key_pk: int) -> HttpResponse:
    write_key = get_object_or_404(WriteKey, pk=key_pk, source_id=pk)
    services.write_key_revoke(actor=Actor.from_request(request), write_key=write_key)
    messages.success(request, f"Write key {write_key.key[:6]}… revoked: it now gets 401.")
    return redirect("source-detail", pk=pk)


@login_required
@require_GET
def source_debugger(request: MarketerRequest, pk: int) -> HttpResponse:
    """What arrived since the last poll: new events and refusals, newest first.

    As a full page (no htmx) it is the debugger on its own; as an htmx poll it answers the
    poller with new rows swapped in out of band, so rows a user opened stay open.
    """
    source = get_object_or_404(Source, pk=pk)
    events_after = _int_param(request, "events_after")
    refusals_after = _int_param(request, "refusals_after")
    events = list(
        selectors.source_latest_events(source=source, after_id=events_after, limit=DEBUGGER_ROWS)
    )
    refusals = list(
        selectors.source_latest_refusals(
            source=source, after_id=refusals_after, limit=DEBUGGER_ROWS
        )
    )
    context = {
        "source": source,
        "events": events,
        "refusals": refusals,
        "events_after": events[0].pk if events else (events_after or 0),
        "refusals_after": refusals[0].pk if refusals else (refusals_after or 0),
        "nav": "sources",
    }
    if request.htmx:
        return render(request, "ingestion/debugger.html#poll", context)
    return render(request, "ingestion/debugger_page.html", context)
