"""The layers contract: kept by the code, and broken by deleting a layer from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_code_keeps_every_import_contract():
    result = lint_imports(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_deleting_a_layer_from_the_contract_breaks_it(tmp_path):
    config = (ROOT / "pyproject.toml").read_text()
    without_segments = config.replace('    "segments",\n    "profiles",', '    "profiles",', 1)
    assert without_segments != config
    (tmp_path / "pyproject.toml").write_text(without_segments)

    result = lint_imports(tmp_path / "pyproject.toml")

    assert result.returncode == 1
    assert "These packages are in no layer; each must be in one:" in result.stdout
    assert "- segments" in result.stdout
