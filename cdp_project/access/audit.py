"""The audit log: who changed what, written by the views that make the change."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from cdp_project.access.models import AuditEntry
from cdp_project.core.client import client_address


def audit_record(
    *,
    request: HttpRequest,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: object = "",
    summary: str = "",
) -> AuditEntry:
    """Record `action` by the request's user on `obj` (or the type and id given).

    Call it inside the transaction of the change (`with transaction.atomic():` around the
    service call and this), so the entry commits or rolls back with the change.
    """
    user = request.user if request.user.is_authenticated else None
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or obj.pk
    return AuditEntry.objects.create(
        actor=user,
        actor_name=user.get_username() if user else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id or "")[:64],
        summary=summary[:300],
        ip=client_address(request, trusted_proxies=settings.INGEST_TRUSTED_PROXIES),
    )
