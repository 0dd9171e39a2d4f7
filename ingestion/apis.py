"""The Segment-compatible HTTP tracking API: `/v1/track`, `/v1/batch`, …

Views parse, authenticate and answer; `services.events_ingest` stores. A 2xx is only sent
after the events are committed.
"""

from __future__ import annotations

import base64
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdp_project.core.client import client_address
from cdp_project.core.errors import ApplicationError
from ingestion import schemas, selectors, services
from ingestion.decoding import decompress, parse_json
from ingestion.messages import (
    BatchContext,
    OffCalendar,
    Refused,
    clean_batch_context,
    parse_time,
)
from ingestion.models import Source
from ingestion.ratelimit import UNLIMITED, write_key_rate_take

CORS_ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding, Anonymousid"


def client_ip(request: Request) -> str | None:
    """The caller's address; `X-Forwarded-For` is believed only from `INGEST_TRUSTED_PROXIES`."""
    return client_address(request, trusted_proxies=settings.INGEST_TRUSTED_PROXIES)


def _basic_auth_key(request: HttpRequest | Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise ApplicationError(
            "invalid_authorization",
            "Authenticate with HTTP Basic (the write key as user name) or `writeKey` in the body.",
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error, or not ASCII at all
        raise ApplicationError(
            "invalid_authorization",
            "The Basic Authorization header is not valid base64.",
            status_code=status.HTTP_401_UNAUTHORIZED,
        ) from exc
    return decoded.partition(":")[0]


def _chunked_body(request: Request) -> bytes:
    """A chunked body (`Transfer-Encoding: chunked`, no `Content-Length`), which Django reads
    as empty: read from the server's stream, when the server ends it at the body's end as
    gunicorn does (`wsgi.input_terminated`), up to the upload limit."""
    meta = request.META
    if (
        meta.get("CONTENT_LENGTH")
        or "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
        or not meta.get("wsgi.input_terminated")
    ):
        return b""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    stream = meta["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        part = stream.read(min(64 * 1024, limit + 1 - size))
        if not part:
            return b"".join(parts)
        parts.append(part)
        size += len(part)
    raise RequestDataTooBig("The chunked body is larger than the upload limit.")


def _authenticate(key: Any) -> Source:
    source = selectors.source_for_write_key(key=key) if isinstance(key, str) and key else None
    if source is None:
        raise ApplicationError(
            "invalid_write_key",
            "The write key is unknown, revoked, or its source is disabled.",
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    return source


class IngestView(APIView):
    """Shared by every endpoint: one message (`message_type` set) or a batch."""

    message_type: str | None = None
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes: list = []  # the body is read raw: JSON whatever the content type

    # DRF passes its Request; the stubs' APIView.options overrides View's the same way.
    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        # Preflights carry no write key, so every origin is answered here; a source that
        # restricts origins is enforced on the request itself.
        response = Response(status=status.HTTP_204_NO_CONTENT)
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", CORS_ALLOWED_HEADERS
        )
        response["Access-Control-Max-Age"] = "86400"
        return response

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in getattr(self, "rate", UNLIMITED).headers().items():
            response.setdefault(name, value)
        origin = request.headers.get("Origin")
        source: Source | None = getattr(self, "source", None)
        if origin and (source is None or source.accepts_origin(origin)):
            response["Access-Control-Allow-Origin"] = origin
            # The web tracker reads these to back off when told to.
            response["Access-Control-Expose-Headers"] = (
                "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
            )
            response["Vary"] = "Origin"
        return response

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        received_at = timezone.now()
        self.source = None
        self.rate = UNLIMITED
        key = _basic_auth_key(request)
        if key is not None:
            self.source = _authenticate(key)
        payload = self._read_payload(request)
        body_key = payload.get("writeKey")
        if self.source is None or not isinstance(body_key, str | None):
            # A `writeKey` that is no text is refused even beside a Basic one.
            self.source = _authenticate(body_key)
        source = self.source
        origin = request.headers.get("Origin")
        if not source.accepts_origin(origin):
            self._refuse_request(
                "origin_not_allowed",
                f"This source does not accept events from the origin {origin}.",
                status_code=status.HTTP_403_FORBIDDEN,
            )

        batch = BatchContext(received_at=received_at, ip=client_ip(request))
        if self.message_type is None:
            messages = payload.get("batch")
            if not isinstance(messages, list):
                self._refuse_request("invalid_batch", "`batch` must be an array of events.")
            if len(messages) > settings.INGEST_MAX_BATCH_EVENTS:
                self._refuse_request(
                    "too_many_events",
                    f"A batch holds at most {settings.INGEST_MAX_BATCH_EVENTS} events; "
                    f"this one has {len(messages)}.",
                )
            batch.sent_at = payload.get("sentAt")
            try:
                parse_time(batch.sent_at, "sentAt")
            except Refused as refusal:  # it would refuse every event: refuse the request
                self._refuse_request(refusal.code, f"The batch's {refusal.message}")
            except OffCalendar:
                pass  # each event is stored by the out-of-range rule
            context = payload.get("context")
            if context is not None and not isinstance(context, dict):
                self._refuse_request("invalid_context", "The batch's `context` must be an object.")
            if context:
                try:
                    batch.context = clean_batch_context(context)
                except Refused as refusal:
                    self._refuse_request("invalid_context", f"The batch's `context`: {refusal}")
        else:
            messages = [payload]

        self.rate = write_key_rate_take(key=key or payload["writeKey"], events=len(messages))
        if not self.rate.allowed:
            raise ApplicationError(
                "rate_limited",
                f"This write key sent more than {self.rate.limit:,} events in "
                f"{settings.INGEST_RATE_LIMIT_WINDOW_SECONDS} s; nothing of this request was "
                f"stored. Retry after {self.rate.retry_after} s.",
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                headers=self.rate.headers(),
            )

        result = services.events_ingest(
            source=source, messages=messages, batch=batch, message_type=self.message_type
        )
        if self.message_type is not None and result.refused:
            refused = result.refused[0]
            return Response(
                {"success": False, "code": refused.code, "message": refused.message},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(
            {
                "success": True,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "refused": [item.as_dict() for item in result.refused],
            }
        )

    def _read_payload(self, request: Request) -> dict[str, Any]:
        limit = settings.INGEST_MAX_REQUEST_BYTES
        try:
            body = request.body or _chunked_body(request)
        except RequestDataTooBig:
            self._refuse_request(
                "request_too_large", f"The request is larger than {limit // 1024} KB."
            )
        except ValueError:  # Django reads a Content-Length that is not a number as one
            self._refuse_request(
                "invalid_content_length", "The Content-Length header is not a number."
            )
        try:
            data = decompress(body, request.headers.get("Content-Encoding", ""), limit=limit)
            payload = parse_json(data)
        except ApplicationError as error:
            self._refuse_request(error.code, error.message, details=error.details)
        if not isinstance(payload, dict):
            self._refuse_request("invalid_body", "The body must be a JSON object.")
        return payload

    def _refuse_request(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        status_code: int = status.HTTP_400_BAD_REQUEST,
    ) -> NoReturn:
        """Refuse the whole request, recorded for the debugger when the source is known."""
        if self.source is not None:
            services.refusals_record(
                source=self.source,
                refused=[services.RefusedEvent(index=None, code=code, message=message)],
            )
        raise ApplicationError(code, message, details=details, status_code=status_code)


_ERRORS = {
    400: OpenApiResponse(schemas.ErrorResponse, description="Invalid JSON, too large, …"),
    401: OpenApiResponse(schemas.ErrorResponse, description="Unknown or revoked write key."),
    403: OpenApiResponse(schemas.ErrorResponse, description="Origin not allowed."),
    429: OpenApiResponse(
        schemas.ErrorResponse,
        description="Too many events for this write key; retry after `Retry-After` seconds.",
    ),
    503: OpenApiResponse(schemas.ErrorResponse, description="Database unavailable; retry."),
}


_DESCRIPTION = (
    "Segment-compatible. A 200 means the stored events are committed; events that cannot be "
    "accepted are listed in `refused` by index with a code and a message (docs/ingest.md "
    "lists every rule)."
)


def _endpoint(
    message_type: str | None, request_schema: dict[str, Any] | type, summary: str
) -> type[IngestView]:
    view = type(
        f"{(message_type or 'batch').capitalize()}View",
        (IngestView,),
        {"message_type": message_type},
    )
    return extend_schema(
        # Named explicitly: the view reads the body raw (no DRF parsers), from which the
        # schema generator would infer no request body at all.
        request={"application/json": request_schema},
        responses={200: schemas.IngestResponse, **_ERRORS},
        summary=summary,
        description=_DESCRIPTION,
        tags=["ingest"],
    )(view)


TrackView = _endpoint("track", schemas.TrackRequest, "Record an action a user performed")
IdentifyView = _endpoint("identify", schemas.IdentifyRequest, "Tie a user to their traits")
PageView = _endpoint("page", schemas.PageRequest, "Record a page view")
ScreenView = _endpoint("screen", schemas.PageRequest, "Record a mobile screen view")
GroupView = _endpoint("group", schemas.GroupRequest, "Associate a user with a group")
AliasView = _endpoint("alias", schemas.AliasRequest, "Link two ids of one user")
BatchView = _endpoint(None, schemas.BatchRequest, "Send up to 2,500 events at once")
