"""npm packages the tests install at test time (the official SDKs, axe-core), each folder
with its own `package.json` and lock file under `tests/sdks/`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def npm_installed(folder: Path, *, installed: Path, needed_for: str) -> None:
    """Run `npm ci` in `folder` unless `installed` exists. Without Node.js and npm the test
    skips with the reason, or fails when CDP_REQUIRE_NODE is set (as .ci/run sets it)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        message = f"Node.js and npm are needed for {needed_for}"
        if os.environ.get("CDP_REQUIRE_NODE", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CDP_REQUIRE_NODE is set: {message}")
        pytest.skip(message)
    if not installed.exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            check=True,
            timeout=300,
        )
