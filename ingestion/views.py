"""The Sources pages: sources, their write keys and SDK snippets, and the live debugger."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

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
        "nav": "sources",
        **_debugger_rows(source, _debugger_filters(request)),
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
                "retention_days": source.retention_days,
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


DEBUGGER_STATUSES = ("all", "accepted", "refused")
DEBUGGER_VIEWS = ("pretty", "raw")


def _debugger_filters(request: HttpRequest) -> dict[str, Any]:
    """The debugger's search, filters and display choices, read from the query string; an
    unknown value is the default, as a hand-edited URL should still show the debugger."""
    # No stored id or name holds a NUL (Postgres text cannot): searching for one finds what
    # is around it.
    text = request.GET.get("q", "").replace("\x00", "").strip()[:255]
    kind = request.GET.get("type", "")
    status = request.GET.get("status", "all")
    view = request.GET.get("view", "pretty")
    return {
        "q": text,
        "match": "exact" if request.GET.get("match") == "exact" else "prefix",
        "type": kind if kind in Event.Type.values else "",
        "status": status if status in DEBUGGER_STATUSES else "all",
        "paused": request.GET.get("paused") == "1",
        "view": view if view in DEBUGGER_VIEWS else "pretty",
    }


def _debugger_rows(
    source: Source,
    filters: dict[str, Any],
    *,
    events_after: int | None = None,
    refusals_after: int | None = None,
) -> dict[str, Any]:
    search = selectors.DebuggerSearch(
        text=filters["q"], prefix=filters["match"] == "prefix", type=filters["type"]
    )
    # Refusals have no type: a type filter shows events only.
    show_events = filters["status"] != "refused"
    show_refusals = filters["status"] != "accepted" and not filters["type"]
    events = (
        list(
            selectors.source_latest_events(
                source=source, after_id=events_after, limit=DEBUGGER_ROWS, search=search
            )
        )
        if show_events
        else []
    )
    refusals = (
        list(
            selectors.source_latest_refusals(
                source=source, after_id=refusals_after, limit=DEBUGGER_ROWS, search=search
            )
        )
        if show_refusals
        else []
    )
    query = {
        key: value
        for key, value in (
            ("q", filters["q"]),
            ("match", "exact" if filters["match"] == "exact" else ""),
            ("type", filters["type"]),
            ("status", "" if filters["status"] == "all" else filters["status"]),
        )
        if value
    }
    return {
        "events": events,
        "refusals": refusals,
        "show_events": show_events,
        "show_refusals": show_refusals,
        "filters": filters,
        "filtered": bool(query),
        "filter_query": urlencode(query),
        "event_types": Event.Type.values,
        "events_after": events[0].pk if events else (events_after or 0),
        "refusals_after": refusals[0].pk if refusals else (refusals_after or 0),
    }


@login_required
@require_GET
def source_debugger(request: MarketerRequest, pk: int) -> HttpResponse:
    """What arrived since the last poll: new events and refusals, newest first, that match
    the search and filters.

    As a full page (no htmx) it is the debugger on its own, and the filtered page a browser
    without JavaScript gets; as an htmx poll it answers the poller with new rows swapped in
    out of band, so rows a user opened stay open.
    """
    source = get_object_or_404(Source, pk=pk)
    context = {
        "source": source,
        "nav": "sources",
        **_debugger_rows(
            source,
            _debugger_filters(request),
            events_after=_int_param(request, "events_after"),
            refusals_after=_int_param(request, "refusals_after"),
        ),
    }
    if request.htmx:
        return render(request, "ingestion/debugger.html#poll", context)
    return render(request, "ingestion/debugger_page.html", context)
