"""`make bench` end to end, at a tiny size: it must keep running on a fresh clone."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from cdp_project.devtools import benchmarks
from ingestion.models import Event

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_measures_every_figure_in_a_database_of_its_own(tmp_path):
    results = tmp_path / "results.json"
    command = [
        sys.executable, "manage.py", "bench", "--profiles", "300", "--timeline-events", "120",
        "--ingest-events", "300", "--segment-events", "3000", "--journey-enrollments", "400",
        "--runs", "1", "--broadcast-people", "60", "--entry-samples", "2",
        "--json", str(results),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(results.read_text())
    figures = {figure["name"]: figure for figure in report["figures"]}
    throughput = figures["Ingest throughput, HTTP batches of 100"]
    assert throughput["value"] > 0 and 0 < throughput["ratio"] < 10
    assert "COPY" in throughput["reference"]
    # The COPY of each run is kept, measured right after it: the reference is their median.
    for figure in (throughput, figures["Ingest throughput, with the segment store"]):
        copies = figure["reference_samples"]
        assert len(copies) == figure["runs"] == len(figure["samples"]) >= 3
        assert abs(figure["reference_rate"] - statistics.median(copies)) <= 1
        assert figure["reference_rate"] > 0
    # The worker's side: the ingest figure's events through every processor.
    processing = figures["Processing throughput, batches of 100"]
    assert processing["value"] > 0 and 0 < processing["ratio"] < 10
    assert processing["reference_rate"] == throughput["reference_rate"] > 0
    # Ingest again once the segment store is in: the same figure on ten times the data.
    scaled = figures["Ingest throughput, with the segment store"]
    assert scaled["value"] > 0 and 0 < scaled["ratio"] < 10 and scaled["runs"] == 3
    stored = int(scaled["detail"].split(" events stored")[0].split("; ")[-1].replace(",", ""))
    assert stored > 3000, scaled["detail"]  # the segment store's events and the others
    assert figures["Single event latency, p99"]["value"] > 0
    assert 0 < figures["Catalog lag"]["value"] < 120
    assert 0 < figures["Trigger latency"]["value"] < 120
    assert figures["Segment preview at a tenth of the events"]["value"] > 0
    assert "300 events" in figures["Segment preview at a tenth of the events"]["detail"]
    assert figures["Segment refresh at a tenth of the events, everyone entering"]["value"] > 0
    assert figures["Profile page with its timeline"]["value"] > 0
    journey = figures["Journey page with per-step counts"]
    assert journey["value"] > 0 and journey["detail"] == "journey with 400 enrollments"
    assert figures["Enrollment list, one person"]["value"] > 0
    assert figures["Segment preview: count and ten samples"]["value"] > 0
    refresh = figures["Segment refresh, everyone entering"]
    assert refresh["value"] > 0 and "members" in refresh["detail"]
    assert "Execution Time" in report["plans"]["Segment preview count"]
    analytics = (
        "Dashboard",
        "Funnel, last 30 days",
        "Funnel, last 30 days, one segment",
        "Retention, 12 weekly cohorts",
    )
    for name in analytics:
        assert figures[name]["value"] > 0 and "orders" in figures[name]["detail"], name
    # The funnel found people (this tiny store's random order leaves later steps thin): the
    # figure is not one of an empty period or of steps without their roles.
    steps = figures["Funnel, last 30 days"]["detail"].split("people per step ")[1]
    viewed, added, *_ = (int(n.replace(",", "")) for n in steps.split(" → "))
    assert viewed > added > 0, steps
    folded = figures["Hourly rollup, first fold"]["detail"].split(" events")[0]
    assert int(folded.replace(",", "")) >= 3000  # every generated event, and the others
    assert "Execution Time" in report["plans"]["Funnel, last 30 days"]
    # Journeys: a broadcast where every member got the message, and segment entries timed.
    broadcast = figures["Broadcast to 60 people"]
    assert broadcast["value"] > 0 and "all 60 rendered" in broadcast["detail"]
    entry = figures["Segment entry to first step, p95"]
    assert 0 < entry["value"] < 120 and entry["runs"] == 2
    assert "PostgreSQL" in report["database"] and report["load"]
    assert "Ingest throughput" in done.stdout and "events/s" in done.stdout


@pytest.mark.django_db
def test_the_copy_reference_loads_the_stored_rows_with_their_profiles_then_removes_them(
    source, ingest
):
    bodies = benchmarks.batch_bodies(batches=2, size=30, run=7)
    last = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for body in bodies:
        assert ingest("batch", None, raw=body).status_code == 200
    stored = dict(Event.objects.filter(pk__gt=last).values_list("message_id", "profile_id"))
    with connection.cursor() as cursor:
        # What COPY loaded, kept by a trigger: the rows themselves are deleted once timed.
        cursor.execute("CREATE TABLE bench_copied (message_id text, profile_id bigint)")
        cursor.execute(
            """
            CREATE FUNCTION bench_keep_copied() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO bench_copied VALUES (NEW.message_id, NEW.profile_id);
                RETURN NULL;
            END $$
            """
        )
        cursor.execute(
            "CREATE TRIGGER bench_keep_copied AFTER INSERT ON ingestion_event"
            " FOR EACH ROW EXECUTE FUNCTION bench_keep_copied()"
        )

    rate = benchmarks.copy_rate(bodies=bodies, source_id=source.pk, after_id=last)

    with connection.cursor() as cursor:
        cursor.execute("SELECT message_id, profile_id FROM bench_copied")
        copied = dict(cursor.fetchall())
    assert rate > 0
    assert len(stored) == 60 and all(stored.values())
    # Every stored row, with the profile ingest resolved it to …
    assert copied == {f"copy-{message_id}": pk for message_id, pk in stored.items()}
    # … and gone again, the stored events untouched.
    assert not Event.objects.filter(message_id__startswith="copy-").exists()
    assert dict(Event.objects.filter(pk__gt=last).values_list("message_id", "profile_id")) == stored
