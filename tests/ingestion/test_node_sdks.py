"""The official Node SDKs (@segment/analytics-node, @rudderstack/rudder-sdk-node), unchanged
but for the host, against a live server. They need Node.js and npm: without them these
tests skip with the reason, unless CDP_REQUIRE_NODE=1 (set by .ci/run)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ingestion.models import Event
from tests.npm import npm_installed

pytestmark = pytest.mark.django_db(transaction=True)

NODE_DIR = Path(__file__).resolve().parents[1] / "sdks" / "node"


@pytest.fixture(scope="session")
def node_sdks() -> Path:
    npm_installed(
        NODE_DIR,
        installed=NODE_DIR / "node_modules" / "@segment" / "analytics-node",
        needed_for="the Node SDK tests",
    )
    return NODE_DIR


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_node_sdk_sends_identify_track_and_page(node_sdks, live_server, source, write_key, sdk):
    result = subprocess.run(
        ["node", "send.mjs", sdk, live_server.url, write_key.key],
        cwd=node_sdks,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr + result.stdout

    events = {event.type: event for event in Event.objects.filter(source=source)}
    assert set(events) == {"identify", "track", "page"}
    assert events["identify"].traits["email"] == "ada@example.com"
    assert events["track"].name == "Order Completed"
    assert events["track"].properties["products"][1]["sku"] == "SOCK-2"
    assert events["page"].name == "Shoes"
    assert events["track"].sent_at is not None
    assert events["track"].context["library"]["name"]
