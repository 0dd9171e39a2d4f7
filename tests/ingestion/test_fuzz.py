"""The ingest API fuzzed from its own OpenAPI schema (schemathesis): whatever arrives, no 5xx,
and every refusal is the documented JSON error. `make test` runs a bounded number of cases
per endpoint; `make fuzz` runs many more (CDP_FUZZ_EXAMPLES)."""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import basic_auth

EXAMPLES = int(os.environ.get("CDP_FUZZ_EXAMPLES", "25"))


def _schema() -> schemathesis.schemas.BaseSchema:
    from django.core.wsgi import get_wsgi_application

    # The schema the app itself serves; reading it needs no database.
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_the_test_connection(db):
    """As Django's test client does: the app must not close the test's connection (and its
    transaction) at the start and end of each request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


schema = _schema()


@schemathesis.check
def schema_and_server_agree(ctx, response, case) -> bool | None:
    """Both directions: a request the schema calls valid is stored whole (200, nothing
    refused), and one it calls invalid is refused. A batch answers an invalid event in a 200
    that lists it in `refused` (the SDKs treat any 4xx as the whole batch lost): that is its
    refusal."""
    if case.meta is None:
        return None
    refused = []
    if response.status_code == 200:
        refused = json.loads(response.content).get("refused", [])
    if case.meta.generation.mode.is_positive:
        assert response.status_code == 200 and not refused, (
            f"a schema-valid request was refused: {response.status_code} {response.content[:500]!r}"
        )
        return True
    if refused:
        return True
    return negative_data_rejection(ctx, response, case)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CDP_FUZZ_EXAMPLES") is None,
    suppress_health_check=list(HealthCheck),
)
def test_the_ingest_api_never_fails_and_always_explains_a_refusal(case, write_key):
    case.headers = {**(case.headers or {}), "Authorization": basic_auth(write_key.key)}
    response = case.call()
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            schema_and_server_agree,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
    if response.status_code >= 400:
        body = json.loads(response.content)
        assert body["success"] is False
        assert isinstance(body["code"], str) and body["code"]
        assert isinstance(body["message"], str) and body["message"]
