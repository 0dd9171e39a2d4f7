"""The request a marketer page receives, as the middleware leaves it.

Django types `request.user` as a user or an anonymous one and knows nothing of django-htmx's
`request.htmx`; a view behind `login_required` annotates its request with `MarketerRequest`
to say both what the login check guarantees and what `HtmxMiddleware` adds.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class MarketerRequest(HttpRequest):
    user: User
    htmx: HtmxDetails
