"""The WSGI module the web server loads: every view imported, and what it loaded frozen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import gc, sys
before = gc.get_freeze_count()
import cdp_project.wsgi
loaded = ["ingestion.apis" in sys.modules, "segments.views" in sys.modules]
# A frozen object is out of the collector's sight: a view's function among them shows that
# the freeze came after the views were imported.
from ingestion.apis import client_ip
view_seen = any(o is client_ip for o in gc.get_objects())
print(before, gc.get_freeze_count(), *loaded, view_seen)
"""


def test_the_web_servers_module_imports_every_view_and_freezes_what_it_loaded():
    # A database that does not answer: loading the application must not need one.
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    before, frozen, apis, views, view_seen = done.stdout.split()
    assert before == "0"
    # Django, the apps and their libraries: far more than a bare interpreter holds.
    assert int(frozen) > 50_000
    assert apis == views == "True"
    assert view_seen == "False"
