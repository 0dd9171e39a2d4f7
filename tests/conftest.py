from __future__ import annotations

import base64
import gzip as gzip_module
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django.test import Client, override_settings

from cdp_project.access.actors import Actor
from cdp_project.celery import app as celery_app
from cdp_project.devtools.embedded import FILESYSTEM_BROKER_URL, filesystem_broker_options
from cdp_project.devtools.pytest_plugin import xdist_worker_index
from ingestion import services
from ingestion.models import Source, WriteKey


@pytest.fixture(autouse=True, scope="session")
def _celery_in_memory() -> Iterator[None]:
    """Unit tests publish to an in-memory broker: nothing reaches a shared queue under
    var/. Tests that need a worker configure a real broker themselves (`broker` below).

    Celery reads `CELERY_BROKER_URL` (and its read and write variants) from the
    environment before its configuration, so a developer's own setting would send every
    test's tasks to that broker: it is set aside for the session, for the processes the
    tests start too, which are given their broker explicitly."""
    names = ("CELERY_BROKER_URL", "CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL")
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    celery_app.conf.update(broker_url="memory://", broker_transport_options={})
    celery_app._pool = None
    yield
    os.environ.update(saved)


@pytest.fixture(autouse=True, scope="session")
def _static_files_from_finders() -> Iterator[None]:
    """Serve assets from the app folders as they are: tests never depend on a
    `collectstatic` manifest (which `make run` builds)."""
    from django.conf import settings

    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        yield


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hasher() -> Iterator[None]:
    """Hash passwords with MD5 in tests: PBKDF2's many rounds cost a fifth of a second at
    every login and every user a test makes, and no test is about the hash's strength."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


# Fixtures that end with a flush of the test database (TransactionTestCase's teardown).
_FLUSHING = {"transactional_db", "live_server", "django_db_reset_sequences"}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Put back what the data migrations create (the built-in campaigns, the read-only
    group) once a transactional test's flush deleted it. Run serially, pytest-django runs the
    transactional tests last; a pytest-xdist worker, given a file at a time, may run a plain
    test after one. After the test's teardown: the flush is in a fixture's."""
    result = yield
    marker = item.get_closest_marker("django_db")
    transactional = marker is not None and marker.kwargs.get("transaction", False)
    flushed = transactional or _FLUSHING.intersection(getattr(item, "fixturenames", ()))
    # Not after the last test, whose teardown drops the test database; and never the
    # developer's own database: only once the test database is set up.
    test_database = connection.settings_dict["NAME"].startswith("test_")
    if flushed and nextitem is not None and test_database:
        from django.contrib.auth.models import Group
        from pytest_django.plugin import blocking_manager_key

        from campaigns.defaults import campaigns_setup
        from cdp_project.access.roles import READ_ONLY_GROUP

        with item.config.stash[blocking_manager_key].unblock():
            campaigns_setup()
            Group.objects.get_or_create(name=READ_ONLY_GROUP)
    return result


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    # Live-server threads must not keep connections open past a test, or the test database
    # cannot be flushed or dropped.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture
def fresh_path_cache() -> Iterator[None]:
    """The catalog's per-process cache of known paths, empty before and after the test."""
    from ingestion.catalog.discovery import forget_known_paths

    forget_known_paths()
    yield
    forget_known_paths()


def process_stored() -> int:
    """Run the ingest processors on everything stored and not processed, as the worker does."""
    from ingestion.models import Event

    ids = list(Event.objects.filter(processed_at__isnull=True).values_list("pk", flat=True))
    return services.events_process(event_ids=ids)


@pytest.fixture
def source(db) -> Source:
    return services.source_create(actor=Actor.system("test"), name="Shop", kind=Source.Kind.SERVER)


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


# --- a real Celery worker on a real broker ------------------------------------------------


def _required(variable: str) -> bool:
    return os.environ.get(variable, "").lower() in ("1", "true", "yes")


def _use_broker(url: str, options: dict) -> None:
    celery_app.conf.update(broker_url=url, broker_transport_options=options)
    # Drop the cached pools so the next publish connects to the new broker.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker(tmp_path) -> Iterator[str]:
    """A real broker for this test: `CDP_TEST_BROKER_URL` (Redis or RabbitMQ; CI sets it),
    else the embedded filesystem broker in a temporary folder. Restores the in-memory broker
    afterwards."""
    url = os.environ.get("CDP_TEST_BROKER_URL", "")
    if url:
        options: dict[str, Any] = {"socket_connect_timeout": 2}
        if url.startswith("redis"):
            # Each pytest-xdist worker its own queues on the shared Redis, so that one
            # worker's purge or consumer never takes another's tasks.
            options["global_keyprefix"] = f"cdp-test-{xdist_worker_index()}:"
        _use_broker(url, options)
        try:
            with celery_app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:
            message = f"the broker at {url} cannot be reached: {exc}"
            if _required("CDP_REQUIRE_BROKER"):
                pytest.fail(message)
            pytest.skip(message)
        celery_app.control.purge()  # tasks left by an earlier run
    else:
        url = FILESYSTEM_BROKER_URL
        _use_broker(url, filesystem_broker_options(tmp_path / "broker"))
    yield url
    _use_broker("memory://", {})


@pytest.fixture
def celery_worker(broker, transactional_db) -> Iterator[object]:
    """A Celery worker thread consuming from the test's broker, with database access."""
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
        yield


def wait_for(condition: Callable[[], bool], *, timeout: float = 30, what: str = "") -> None:
    """Poll until `condition()` holds; fails with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
