"""Deployment checks of our own, run by `manage.py check --deploy`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

from cdp_project.core.secret_key import PUBLIC_SECRET_KEYS


@register(Tags.security, deploy=True)
def secret_key_is_set(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    # Django's own check accepts the former development default (long and varied enough),
    # but it is public: sessions, password reset links and unsubscribe links could be forged
    # with it. Settings refuse it already; this catches a key set some other way.
    if settings.SECRET_KEY in PUBLIC_SECRET_KEYS:
        return [
            Warning(
                "SECRET_KEY is a value published in the source.",
                hint="Set SECRET_KEY in the environment to a long random value.",
                id="access.W001",
            )
        ]
    return []
