from __future__ import annotations

import base64
import gzip as gzip_module
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from cdp_project.celery import app as celery_app
from ingestion import services
from ingestion.models import Source, WriteKey


@pytest.fixture(autouse=True, scope="session")
def _celery_in_memory() -> None:
    """Unit tests publish to an in-memory broker: nothing reaches a shared queue under
    var/. Tests that need a worker configure a real broker themselves (tests/broker.py)."""
    celery_app.conf.update(broker_url="memory://", broker_transport_options={})
    celery_app._pool = None


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    # Live-server threads must not keep connections open past a test, or the test database
    # cannot be flushed or dropped.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture
def source(db) -> Source:
    return services.source_create(name="Shop", kind=Source.Kind.SERVER)


@pytest.fixture
def write_key(source: Source) -> WriteKey:
    return source.write_keys.get()


def basic_auth(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


@pytest.fixture
def ingest(client: Client, write_key: WriteKey) -> Callable[..., Any]:
    """POST to the ingest API the way an SDK would; returns the response."""

    def post(
        path: str,
        body: Any,
        *,
        key: str | None = None,
        auth: str = "basic",
        compress: bool = False,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ):
        key = write_key.key if key is None else key
        extra = dict(headers or {})
        if isinstance(body, dict) and auth == "body":
            body = {**body, "writeKey": key}
        data = raw if raw is not None else json.dumps(body).encode()
        if compress:
            data = gzip_module.compress(data)
            extra["Content-Encoding"] = "gzip"
        if auth == "basic":
            extra["Authorization"] = basic_auth(key)
        return client.post(f"/v1/{path}", data=data, content_type=content_type, headers=extra)

    return post
