"""One error type for the API and one JSON shape for every error it returns.

The Segment and RudderStack SDKs read top-level `code` and `message`; details, where they
apply, sit beside them.
"""

from __future__ import annotations

from typing import Any

from django.db import InterfaceError, OperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

# How long SDKs should wait before retrying when the database cannot be reached.
DATABASE_RETRY_AFTER_SECONDS = 10


class ApplicationError(Exception):
    """An error the API reports to its caller, with a stable machine-readable `code`."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status_code = status_code
        self.details = details or {}
        self.headers = headers or {}


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"success": False, "code": code, "message": message, **details}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(
            error_body(exc.code, exc.message, **exc.details),
            status=exc.status_code,
            headers=exc.headers,
        )
    if isinstance(exc, OperationalError | InterfaceError):
        return Response(
            error_body("database_unavailable", "The event store is unavailable; retry later."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "invalid_request"
        response.data = error_body(code, detail)
    return response
