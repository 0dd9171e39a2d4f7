"""The marketer UI's own pages: the dashboard and the sections still to be filled."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from ingestion import selectors as ingestion_selectors

SECTIONS = {
    "campaigns": (
        "Campaigns",
        "Triggered campaigns (abandoned browse, abandoned cart, order confirmation) are set "
        "up as drafts and can be edited and activated in Django admin; their own pages, the "
        "Outbox and statistics are not built yet.",
    ),
}


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboard.html",
        {"overview": ingestion_selectors.ingest_overview(), "nav": "dashboard"},
    )


@login_required
def section(request: HttpRequest, section: str) -> HttpResponse:
    if section not in SECTIONS:
        raise Http404(section)
    title, text = SECTIONS[section]
    return render(request, "section.html", {"title": title, "text": text, "nav": section})
