"""Who may change what in the marketer UI.

Every logged-in user may see every marketer page. A user in the "Read-only marketer" group
(created by this app's migration; add users to it in Django admin) may not change anything:
every request with an unsafe method (POST, PUT, PATCH, DELETE) to a marketer page is refused
with 403 by `ReadOnlyMarketerMiddleware`, whatever view answers it, so a view added later is
covered without remembering a decorator. Pages that exist only to change something (edit
forms, the import and delete pages) and the profile export (personal data) also refuse them
on GET through `change_required`, and templates hide change buttons with `can_change`.

A superuser is never read-only, even if put in the group.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseForbidden
from django.utils.functional import SimpleLazyObject

READ_ONLY_GROUP = "Read-only marketer"

# Paths outside the marketer UI, with their own rules: the ingest API and tracker (write
# keys), the demo shop, health checks, unsubscribe links and the email provider's webhooks
# (signed or secret-protected), login, logout and password pages (a read-only user may log
# out and change their own password), Django admin (its own model permissions) and assets.
OUTSIDE_MARKETER_UI = (
    "/v1/",
    "/cdp.js",
    "/shop/",
    "/health/",
    "/campaigns/unsubscribe/",
    "/campaigns/esp/",
    "/accounts/",
    "/admin/",
    "/api/",
    "/static/",
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
REFUSAL = "Your account is read-only: ask an admin to change this."


def user_can_change(user: User | AnonymousUser) -> bool:
    """Whether `user` may change marketing data (segments, campaigns, sources, profiles…)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    # Cached on the user object: templates ask several times per page.
    cached = getattr(user, "_cdp_read_only", None)
    if cached is None:
        cached = user.groups.filter(name=READ_ONLY_GROUP).exists()
        # Not a field: a cache kept on the instance for the request.
        user._cdp_read_only = cached  # type: ignore[attr-defined]
    return not cached


def change_required(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """Refuse the view to read-only users with 403, whatever the method."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated and not user_can_change(request.user):
            raise PermissionDenied(REFUSAL)
        return view(request, *args, **kwargs)

    return wrapped


class ReadOnlyMarketerMiddleware:
    """Refuse unsafe methods on marketer pages to read-only users (after authentication)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., HttpResponse], *args: Any
    ) -> HttpResponse | None:
        if (
            request.method not in SAFE_METHODS
            and not getattr(view, "reads_only", False)
            and not request.path_info.startswith(OUTSIDE_MARKETER_UI)
            and request.user.is_authenticated
            and not user_can_change(request.user)
        ):
            return HttpResponseForbidden(REFUSAL, content_type="text/plain; charset=utf-8")
        return None


def reads_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Mark a view whose POST changes nothing (a builder's live count, a campaign's dry run,
    which rolls back), so read-only users may use it."""
    view.reads_only = True  # type: ignore[attr-defined]
    return view


def can_change(request: HttpRequest) -> dict[str, Any]:
    """Template context: `can_change` decides whether change buttons are shown.

    Lazy: a fragment that shows no change button costs no query.
    """
    user = getattr(request, "user", None)
    return {"can_change": SimpleLazyObject(lambda: bool(user and user_can_change(user)))}
