"""Deployment checks of our own, run by `manage.py check --deploy`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

# The default in settings.py (not a secret: it is in the source).
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me-in-production"  # noqa: S105


@register(Tags.security, deploy=True)
def secret_key_is_set(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    # Django's own check accepts the development default (long and varied enough), but it is
    # public: sessions, password reset links and unsubscribe links could be forged with it.
    if settings.SECRET_KEY == DEVELOPMENT_SECRET_KEY:
        return [
            Warning(
                "SECRET_KEY is the development default from settings.py.",
                hint="Set SECRET_KEY in the environment to a long random value.",
                id="access.W001",
            )
        ]
    return []
