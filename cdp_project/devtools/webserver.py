"""The production web server's command line, shared by `make run` and `make bench`, so the
benchmark measures the server as it is run."""

from __future__ import annotations

import os
import sys

from django.conf import settings

# gunicorn's default access log line less its `%(u)s`, the HTTP Basic user name: on the
# ingest API that is the write key, which a log must not keep.
ACCESS_LOG_FORMAT = '%(h)s %(l)s - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


def web_server_command(*, bind: str, workers: int | None = None) -> list[str]:
    """gunicorn serving the project: WEB_WORKERS gthread processes of WEB_THREADS threads
    each, its access log lines without the write key. The caller says where logs go."""
    return [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "cdp_project.wsgi",
        "--bind", bind,
        "--workers", str(workers or settings.WEB_WORKERS),
        "--threads", str(settings.WEB_THREADS),
        "--worker-class", "gthread",
        "--access-logformat", ACCESS_LOG_FORMAT,
        # gunicorn's control socket sits at one path per user: two apps would share it.
        "--no-control-socket",
    ]  # fmt: skip
