"""`/health/` for load balancers and monitors.

The web tier needs only the database to accept events (a broker outage delays follow-up
work, the sweep catches up), so the answer is 503 when the database is unreachable and 200
otherwise; the broker's state and the processing backlog are reported in the body.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cdp_project.celery import app as celery_app


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        from ingestion.selectors import events_backlog

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


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    database = _check_database()
    broker = _check_broker()
    if not database["ok"]:
        state = "down"
    elif not broker["ok"]:
        state = "degraded"
    else:
        state = "ok"
    return JsonResponse(
        {"status": state, "database": database, "broker": broker},
        status=503 if state == "down" else 200,
    )
