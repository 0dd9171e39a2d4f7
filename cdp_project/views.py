"""The marketer UI's own pages: the dashboard."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cdp_project.analytics import exports
from cdp_project.analytics.dashboard import OUTLIER_FACTOR, dashboard_figures
from cdp_project.analytics.views import csv_response
from ingestion import selectors as ingestion_selectors


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboard.html",
        {
            "overview": ingestion_selectors.ingest_overview(),
            "figures": dashboard_figures(),
            "currency": settings.SITE_CURRENCY,
            "outlier_factor": OUTLIER_FACTOR,
            "nav": "dashboard",
        },
    )


@login_required
@require_GET
def dashboard_csv(request: HttpRequest) -> StreamingHttpResponse:
    return csv_response("dashboard", exports.dashboard_rows(dashboard_figures()))
