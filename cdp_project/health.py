"""`/health/` for load balancers and monitors.

The web tier needs only the database to accept events (a broker outage delays follow-up
work, the sweep catches up), so the answer is 503 when the database is unreachable and 200
otherwise; the broker's state, the processing backlog, the worker's and the scheduler's
heartbeats (cdp_project/heartbeats.py) and the embedded broker's set-aside messages are
reported in the body. `degraded` comes with `reasons`, one sentence each.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cdp_project import heartbeats
from cdp_project.celery import app as celery_app
from cdp_project.devtools.filesystem_broker import unreadable_count
from ingestion.selectors import events_backlog


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "backlog": events_backlog()}
    except Exception as exc:  # any failure means "not reachable" to a load balancer
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


def _check_broker() -> dict[str, Any]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
        return {"ok": True, "transport": conn.transport_cls}
    except Exception as exc:  # any failure means "not reachable"
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


def _check_parts() -> dict[str, heartbeats.PartState] | None:
    try:
        return heartbeats.stack_parts()
    except Exception:  # the database check above reports why
        return None


def unreadable_messages() -> int | None:
    """Messages the embedded broker set aside as unreadable; None on another broker."""
    if not str(celery_app.conf.broker_url).startswith("filesystem"):
        return None
    return unreadable_count(celery_app.conf.broker_transport_options or {})


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    database = _check_database()
    broker = _check_broker()
    parts = _check_parts() if database["ok"] else None
    reasons = []
    if not broker["ok"]:
        reasons.append("the broker cannot be reached: follow-up work waits for the sweep")
    if parts is not None:
        reasons += [part.reason for part in parts.values() if not part.ok]
    if not database["ok"]:
        state = "down"
        reasons.insert(0, "the database cannot be reached")
    elif reasons:
        state = "degraded"
    else:
        state = "ok"
    unknown = {"ok": False, "last_seen": None, "age_seconds": None,
               "period_seconds": settings.HEARTBEAT_SECONDS}  # fmt: skip
    return JsonResponse(
        {
            "status": state,
            "reasons": reasons,
            "database": database,
            "broker": broker,
            "worker": parts[heartbeats.WORKER].as_json() if parts else unknown,
            "scheduler": parts[heartbeats.SCHEDULER].as_json() if parts else unknown,
            "unreadable_messages": unreadable_messages(),
        },
        status=503 if state == "down" else 200,
    )
