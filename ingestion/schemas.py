"""Shapes of the ingest API, for the OpenAPI schema only: validation lives in
`ingestion.messages`, which is more forgiving than a serializer (it cleans per event)."""

from rest_framework import serializers


class _Message(serializers.Serializer):
    userId = serializers.CharField(required=False, help_text="userId or anonymousId is required.")
    anonymousId = serializers.CharField(required=False)
    messageId = serializers.CharField(
        required=False, help_text="De-duplication key per source; generated when absent."
    )
    timestamp = serializers.DateTimeField(required=False)
    originalTimestamp = serializers.DateTimeField(required=False)
    sentAt = serializers.DateTimeField(required=False)
    context = serializers.DictField(required=False)
    integrations = serializers.DictField(required=False)
    writeKey = serializers.CharField(required=False, help_text="Instead of HTTP Basic auth.")


class TrackRequest(_Message):
    event = serializers.CharField()
    properties = serializers.DictField(required=False)


class IdentifyRequest(_Message):
    traits = serializers.DictField(required=False)


class PageRequest(_Message):
    name = serializers.CharField(required=False)
    category = serializers.CharField(required=False)
    properties = serializers.DictField(required=False)


class GroupRequest(_Message):
    groupId = serializers.CharField()
    traits = serializers.DictField(required=False)


class AliasRequest(_Message):
    previousId = serializers.CharField()


class BatchMessage(_Message):
    type = serializers.ChoiceField(
        choices=["track", "identify", "page", "screen", "group", "alias"]
    )
    event = serializers.CharField(required=False)
    name = serializers.CharField(required=False)
    properties = serializers.DictField(required=False)
    traits = serializers.DictField(required=False)
    groupId = serializers.CharField(required=False)
    previousId = serializers.CharField(required=False)


class BatchRequest(serializers.Serializer):
    batch = BatchMessage(many=True, help_text="At most 2,500 events and 500 KB.")
    sentAt = serializers.DateTimeField(required=False)
    context = serializers.DictField(required=False, help_text="Merged into every event.")
    writeKey = serializers.CharField(required=False)


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
