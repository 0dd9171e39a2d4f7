"""The test suite's services, before Django reads its settings (`-p` in pyproject's addopts).

With no `DATABASE_URL`, the session starts the embedded PostgreSQL under `var/pgdata` (or
joins the one `make run` holds) and exports its URL, which the settings then read. Under
pytest-xdist the controller does this before it starts its workers, which inherit the
variable: one server for every worker, each worker in a test database of its own
(pytest-django suffixes `test_cdp` with the worker's id) and a var/ folder of its own
(`var/tests/gw0`). pgserver's file lock serialises two sessions starting it at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # tryfirst: pytest-django's own hook sets Django up, reading the settings.
    import environ

    # The settings read the same file, without overriding the environment either.
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
    var_dir = Path(os.environ.get("CDP_VAR_DIR") or BASE_DIR / "var")
    if not os.environ.get("DATABASE_URL"):
        from cdp_project.devtools.embedded import embedded_database_start

        os.environ["DATABASE_URL"] = embedded_database_start(var_dir)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        # The rest of var/ (static files, the secret key, the beat schedule) per worker.
        os.environ["CDP_VAR_DIR"] = str(var_dir / "tests" / worker)


def xdist_worker_index() -> int:
    """0 outside xdist and on its first worker (`gw0`), 1 on `gw1`, …: what a test uses to
    keep its shared resources (the broker's keys) apart from other workers'."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw") or 0)
