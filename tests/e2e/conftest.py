"""Browser tests: pytest-playwright driving Debian's Chromium against a live server.

Without /usr/bin/chromium these tests skip with the reason, unless CDP_REQUIRE_BROWSER=1
(set by .ci/run), when they fail instead. Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CDP_CHROMIUM", "/usr/bin/chromium"))

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# around it are synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# Session-scoped, so it runs before pytest-playwright's session-scoped browser launch.
@pytest.fixture(autouse=True, scope="session")
def _chromium_present() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} not found (apt-get install chromium)"
    if os.environ.get("CDP_REQUIRE_BROWSER", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CDP_REQUIRE_BROWSER is set: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ],
    }


_BUSY = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND backend_type = 'client backend' AND state IN ('active', 'idle in transaction')
"""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Before any fixture is torn down (so before the test database is emptied): wait, up
    to ten seconds, until no other connection to the database runs a statement or holds a
    transaction open. A page's tracker may still be storing a batch when a test ends, and
    emptying the tables under it deadlocks with it."""
    if "live_server" not in getattr(item, "fixturenames", ()):
        return
    from django.db import connection

    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(_BUSY)
            if not cursor.fetchone()[0]:
                return
            time.sleep(0.05)
