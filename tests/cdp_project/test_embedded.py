"""Settings only name the embedded PostgreSQL; what runs the product or the suite starts it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

from cdp_project.devtools.embedded import embedded_database_url

ROOT = Path(__file__).resolve().parents[2]


def _newcomer_env(var_dir: Path) -> dict[str, str]:
    """The environment of a fresh clone: no database or broker of one's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
        and not key.startswith("PYTEST_")
    }
    return {**env, "CDP_VAR_DIR": str(var_dir)}


def test_the_embedded_url_names_the_socket_folder_under_var(tmp_path):
    url = embedded_database_url(tmp_path)
    assert url == f"postgres://postgres@{quote(str(tmp_path / 'pgdata'), safe='')}/cdp"
    assert not (tmp_path / "pgdata").exists()


def test_check_and_settings_start_no_database(tmp_path):
    var_dir = tmp_path / "var"
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['HOST'])"
    )
    env = {**_newcomer_env(var_dir), "DJANGO_SETTINGS_MODULE": "cdp_project.settings"}
    shown = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == str(var_dir / "pgdata")
    check = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert "no issues" in check.stdout
    # Nothing was started, or even initialised.
    assert not (var_dir / "pgdata").exists()


@pytest.mark.slow
def test_the_suite_plugin_starts_the_embedded_database_before_the_settings_are_read():
    # Not under pytest's temporary folder (see tests/faults/test_stack.py): pgserver runs
    # PostgreSQL as its own user when run as root.
    folder = Path(tempfile.mkdtemp(prefix="cdp-plugin-"))
    try:
        test = folder / "test_probe.py"
        test.write_text(
            "from django.db import connection\n"
            "def test_probe(db):\n"
            "    with connection.cursor() as cursor:\n"
            "        cursor.execute('SELECT current_database()')\n"
            "        print('DATABASE', cursor.fetchone()[0], connection.settings_dict['HOST'])\n"
        )
        run = subprocess.run(
            [sys.executable, "-m", "pytest", str(test), "-p", "no:randomly", "-s", "-q",
             "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "-n", "0"],
            cwd=ROOT, env=_newcomer_env(folder / "var"), capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"DATABASE test_cdp {folder / 'var' / 'pgdata'}" in run.stdout
    finally:
        shutil.rmtree(folder, ignore_errors=True)
