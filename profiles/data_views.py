"""Imports and data rights: CSV imports, one profile's export, deletion."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse


@login_required
def profile_import(request: HttpRequest) -> HttpResponse:
    raise Http404


@login_required
def profile_export(request: HttpRequest, pk: int) -> HttpResponse:
    raise Http404


@login_required
def profile_delete(request: HttpRequest, pk: int) -> HttpResponse:
    raise Http404
