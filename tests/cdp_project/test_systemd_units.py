"""The systemd units of a production deployment (cdp_project/deploy/systemd/) are valid
units, restart what dies, and run the commands `make run` runs."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from cdp_project.devtools.webserver import ACCESS_LOG_FORMAT

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "cdp_project" / "deploy" / "systemd"
NAMES = ["cdp-web.service", "cdp-worker.service", "cdp-beat.service"]


def _service(name: str) -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string((UNITS / name).read_text().replace("\\\n", " "))
    return {**parser["Unit"], **parser["Service"]}


def test_systemd_analyze_verifies_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        message = "systemd-analyze not found (apt-get install systemd)"
        if os.environ.get("CDP_REQUIRE_SYSTEMD", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    # As installed: the app's folder and settings file where the units expect them (here,
    # this checkout and an empty file), so that verify checks the commands exist.
    env_file = tmp_path / "cdp.env"
    env_file.write_text("")
    for name in NAMES:
        text = (UNITS / name).read_text()
        text = text.replace("/srv/cdp", str(ROOT)).replace("/etc/cdp/cdp.env", str(env_file))
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *NAMES], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    # verify answers 0 on some mistakes and says so on stderr: both must be clean.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


@pytest.mark.parametrize("name", NAMES)
def test_each_unit_restarts_its_process_and_gives_up_after_five_stops_in_a_minute(name):
    service = _service(name)
    assert service["Restart"] == "always"
    assert (service["StartLimitIntervalSec"], service["StartLimitBurst"]) == ("60", "5")
    # The main process gets SIGTERM; its own children are killed only after the timeout.
    assert service["KillMode"] == "mixed"


def test_the_units_run_what_make_run_runs():
    web = shlex.split(_service("cdp-web.service")["ExecStart"].replace("%%", "%"))
    assert web[:2] == ["/srv/cdp/.venv/bin/gunicorn", "cdp_project.wsgi"]
    # The access log leaves out the write key, as under make run.
    assert web[web.index("--access-logformat") + 1] == ACCESS_LOG_FORMAT
    assert "--no-control-socket" in web
    worker = shlex.split(_service("cdp-worker.service")["ExecStart"])
    assert worker[1:4] == ["-A", "cdp_project", "worker"]
    assert "--beat" not in worker and "-B" not in worker  # beat runs on its own
    beat = shlex.split(_service("cdp-beat.service")["ExecStart"])
    assert beat[1:4] == ["-A", "cdp_project", "beat"]
