"""The production web server's command line, shared by `make run` and `make bench`, so the
benchmark measures the server as it is run."""

from __future__ import annotations

import os
import sys

from django.conf import settings


def web_server_command(*, bind: str, workers: int | None = None) -> list[str]:
    """gunicorn serving the project: WEB_WORKERS gthread processes of WEB_THREADS threads
    each. The caller adds its logging options."""
    return [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "cdp_project.wsgi",
        "--bind", bind,
        "--workers", str(workers or settings.WEB_WORKERS),
        "--threads", str(settings.WEB_THREADS),
        "--worker-class", "gthread",
        # gunicorn's control socket sits at one path per user: two apps would share it.
        "--no-control-socket",
    ]  # fmt: skip
