"""The marketer UI's own pages: the dashboard."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ingestion import selectors as ingestion_selectors


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboard.html",
        {"overview": ingestion_selectors.ingest_overview(), "nav": "dashboard"},
    )
