"""Shapes of the ingest API for its OpenAPI schema. Validation lives in
`ingestion.messages`, which cleans and refuses per event; the request shapes below are
written as JSON Schema to say exactly what it accepts, no more and no less: a request the
schema calls valid is stored, one it calls invalid is refused (tests/ingestion/test_fuzz.py
holds both directions; docs/ingest.md says why each rule is what it is)."""

from typing import Any

from rest_framework import serializers

from ingestion.messages import MAX_ID_LENGTH, MAX_MESSAGE_ID_LENGTH, MAX_NAME_LENGTH

# The control and invisible characters a name or an id may not hold (messages._CONTROL).
_CONTROL = "[\\u0000-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2069\\ufeff]"
_PLAIN_TEXT = {"not": {"type": "string", "pattern": _CONTROL}}
# Not blank once trimmed: some character is not a space.
_NOT_BLANK = "\\S"

_OPTIONAL_ID = {
    "type": ["string", "number", "null"],
    "maxLength": MAX_ID_LENGTH,
    **_PLAIN_TEXT,
    "description": "Text or a number (kept as text, trimmed); empty, blank or null is absent.",
}
_ID = {
    "type": ["string", "number"],
    "maxLength": MAX_ID_LENGTH,
    "pattern": _NOT_BLANK,
    **_PLAIN_TEXT,
    "description": "Text or a number (kept as text, trimmed); no control characters.",
}
_TIME = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "number", "description": "Epoch milliseconds."},
        {"const": ""},
        {"type": "null"},
    ],
    "description": "ISO-8601 (naive means UTC) or epoch milliseconds; empty or null is absent.",
}
_OBJECT = {"type": ["object", "null"], "description": "Null is the same as absent."}

_COMMON: dict[str, Any] = {
    "userId": {**_OPTIONAL_ID, "description": "A `userId` or an `anonymousId` is required."},
    "anonymousId": _OPTIONAL_ID,
    "messageId": {
        "type": ["string", "integer", "null"],
        "maxLength": MAX_MESSAGE_ID_LENGTH,
        "description": "De-duplication key per source; generated when absent or blank.",
    },
    "timestamp": _TIME,
    "originalTimestamp": _TIME,
    "sentAt": _TIME,
    "context": _OBJECT,
    "integrations": _OBJECT,
    "writeKey": {"type": ["string", "null"], "description": "Instead of HTTP Basic auth."},
}
# At least one of the two ids, not blank.
_IDENTIFIED = {
    "anyOf": [
        {"required": ["userId"], "properties": {"userId": _ID}},
        {"required": ["anonymousId"], "properties": {"anonymousId": _ID}},
    ]
}


def _message(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**_COMMON, **properties},
        "required": list(required),
        **_IDENTIFIED,
    }


_NAME = {
    "type": "string",
    "maxLength": MAX_NAME_LENGTH,
    "pattern": _NOT_BLANK,
    **_PLAIN_TEXT,
}
TrackRequest = _message(
    {"event": {**_NAME, "description": "The action's name."}, "properties": _OBJECT},
    required=("event",),
)
IdentifyRequest = _message({"traits": _OBJECT})
PageRequest = _message(
    {
        "name": {
            "type": ["string", "number", "null"],
            "maxLength": MAX_NAME_LENGTH,
            **_PLAIN_TEXT,
            "description": "Optional: a page call with only an id is valid.",
        },
        "properties": _OBJECT,
    }
)
GroupRequest = _message({"groupId": _ID, "traits": _OBJECT}, required=("groupId",))
AliasRequest = _message({"previousId": _ID}, required=("previousId",))

_BY_TYPE = {
    "track": TrackRequest,
    "identify": IdentifyRequest,
    "page": PageRequest,
    "screen": PageRequest,
    "group": GroupRequest,
    "alias": AliasRequest,
}
BatchRequest: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {
            "type": "array",
            "maxItems": 2500,
            "description": "At most 2,500 events and 500 KB. An event that breaks a rule is "
            "listed in `refused` by index; the others are stored.",
            "items": {
                "oneOf": [
                    {
                        **shape,
                        # An event's own `writeKey` is not read: the request's is.
                        "properties": {
                            **{k: v for k, v in shape["properties"].items() if k != "writeKey"},
                            "type": {"const": kind},
                        },
                        "required": ["type", *shape["required"]],
                    }
                    for kind, shape in _BY_TYPE.items()
                ]
            },
        },
        "sentAt": _TIME,
        "context": {**_OBJECT, "description": "Merged into every event."},
        "writeKey": _COMMON["writeKey"],
    },
}


class RefusedEventSchema(serializers.Serializer):
    index = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    messageId = serializers.CharField(required=False)


class IngestResponse(serializers.Serializer):
    success = serializers.BooleanField()
    accepted = serializers.IntegerField(help_text="Events stored by this request.")
    duplicates = serializers.IntegerField(help_text="Events already stored (a retry).")
    refused = RefusedEventSchema(many=True)


class ErrorResponse(serializers.Serializer):
    success = serializers.BooleanField()
    code = serializers.CharField()
    message = serializers.CharField()
