"""The marketer's profile pages: the list with search, one profile with its timeline."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@login_required
@require_GET
def profile_list(request: HttpRequest) -> HttpResponse:
    context = {"title": "Profiles", "text": "Profiles are being built.", "nav": "profiles"}
    return render(request, "section.html", context)


@login_required
@require_GET
def profile_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return profile_list(request)
