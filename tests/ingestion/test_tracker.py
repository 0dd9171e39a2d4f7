"""The web tracker's script and snippet, as a site and the Sources page get them."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from django.conf import settings

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.models import Source
from ingestion.tracker import tracker_snippet

SOURCE = Path(settings.BASE_DIR) / "static" / "tracker" / "cdp.js"


def test_the_script_is_served_minified_gzipped_and_cacheable(client):
    plain = client.get("/cdp.js")
    assert plain.status_code == 200
    assert plain["Content-Type"].startswith("text/javascript")
    assert "max-age=300" in plain["Cache-Control"]
    assert "Accept-Encoding" in plain["Vary"]
    body = plain.content
    assert body.startswith(b"/*! cdp.js")  # the licence-style header survives minifying
    assert b"window.analytics" in body and b"sendBeacon" in body
    assert len(body) < 0.8 * SOURCE.stat().st_size

    zipped = client.get("/cdp.js", HTTP_ACCEPT_ENCODING="gzip, br")
    assert zipped["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.content) == body
    assert len(zipped.content) < 6 * 1024

    again = client.get("/cdp.js", HTTP_IF_NONE_MATCH=plain["ETag"])
    assert again.status_code == 304


def test_the_script_answers_only_reads(client):
    assert client.post("/cdp.js").status_code == 405


def test_the_snippet_names_the_key_and_host_and_cannot_close_its_script_element():
    snippet = tracker_snippet(write_key="KEY123", host="https://cdp.example.com/")
    assert 'a.load("KEY123",{"host":"https://cdp.example.com"})' in snippet
    assert 's.src=a._options.host+"/cdp.js"' in snippet
    hostile = tracker_snippet(write_key="</script><script>alert(1)</script>", host="h")
    assert hostile.count("</script>") == 1
    consent = tracker_snippet(write_key="K", host="h", consent_required=True)
    assert '"consentRequired":true' in consent


@pytest.mark.django_db
def test_the_sources_page_shows_the_tracker_snippet_with_the_key(admin_client):
    source = services.source_create(
        actor=Actor.system("test"), name="Web shop", kind=Source.Kind.WEB
    )
    key = source.write_keys.get().key
    response = admin_client.get(f"/sources/{source.pk}/")
    html = response.content.decode()
    assert "Website (the web tracker)" in html
    assert f"a.load(&quot;{key}&quot;" in html
    assert 'data-snippet="web"' in html and "<details open data-snippet" in html


@pytest.mark.django_db
def test_api_responses_let_the_tracker_read_retry_after(ingest, write_key):
    response = ingest(
        "batch",
        {"batch": [{"type": "track", "event": "Signed Up", "anonymousId": "a1"}]},
        auth="body",
        content_type="text/plain",
        headers={"Origin": "https://shop.example"},
    )
    assert response.json()["accepted"] == 1
    assert response["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Retry-After" in response["Access-Control-Expose-Headers"]
