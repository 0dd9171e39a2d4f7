"""The journeys' figures of `make bench` (`--only journeys`): a broadcast to a 100,000-person
segment, and the time from an event that puts a person in a segment to their first step.

Both run on the real stack: gunicorn for ingest, and a Celery worker with beat embedded, as
many processes as `make run` starts (2), with the locmem email backend (`EMAIL_URL=
memorymail://`), so every message is rendered and handed to the backend but goes nowhere.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.utils import timezone

from campaigns.journeys.services import (
    journey_create,
    journey_draft_save,
    journey_publish,
    template_definition,
)
from campaigns.models import Campaign, Enrollment, JourneyRun, Message
from campaigns.services import campaign_status_set
from cdp_project.access.actors import Actor
from cdp_project.devtools import benchmarks
from ingestion import services
from ingestion.models import ProfileAttribute
from profiles.models import Consent, Profile
from segments.models import Segment

BENCH = Actor.system("command:bench")
# What `make run` starts (runstack's worker).
WORKER_PROCESSES = 2


def trait_segment(name: str, trait: str, value: str) -> Segment:
    ProfileAttribute.objects.get_or_create(path=trait, defaults={"string_count": 1})
    condition = {
        "kind": "attribute",
        "negate": False,
        "scope": "trait",
        "path": trait,
        "operator": "equals",
        "value": value,
    }
    return Segment.objects.create(
        name=name,
        definition={"kind": "group", "match": "all", "negate": False, "conditions": [condition]},
    )


def journey_start(name: str, trigger: dict) -> Campaign:
    campaign = journey_create(actor=BENCH, name=name, template="blank")
    definition = template_definition("blank")
    definition["trigger"] = trigger
    definition["steps"] = [
        {
            "id": "email",
            "type": "send",
            "channel": "email",
            "transactional": False,
            "subject": "Hello {{ profile.name or 'there' }}",
            "html": "<p>Hi {{ profile.name }}, our winter sale starts today.</p>",
            "text": "Hi {{ profile.name }}, our winter sale starts today.",
            "items": "",
            "sender_name": "",
            "sender_email": "",
            "webhook_url": "",
            "next": "",
        }
    ]
    definition["start"] = "email"
    problems = journey_draft_save(actor=BENCH, campaign=campaign, definition=definition)
    if problems:
        raise CommandError(f"the benchmark's journey does not publish: {problems}")
    journey_publish(actor=BENCH, campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(reentry=Campaign.Reentry.ALWAYS)
    campaign.refresh_from_db()
    campaign_status_set(actor=BENCH, campaign=campaign, status=Campaign.Status.ACTIVE)
    return campaign


def members_generate(count: int, *, trait: str, value: str) -> None:
    """`count` known people with an email, marketing consent and the trait the segment
    selects on."""
    now = datetime.now(UTC)
    chunk = 5000
    for start in range(0, count, chunk):
        Profile.objects.bulk_create(
            (
                Profile(
                    user_id=f"broadcast-{i}",
                    email=f"broadcast{i}@example.com",
                    name=f"Member {i}",
                    email_consent=Consent.GRANTED,
                    email_consent_at=now,
                    traits={trait: value, "name": f"Member {i}"},
                    first_seen=now,
                    last_seen=now,
                    computed_at=now,
                )
                for i in range(start, min(start + chunk, count))
            ),
            batch_size=chunk,
        )


def stack_for_journeys(folder: str) -> benchmarks.Stack:
    stack = benchmarks.Stack(folder=folder)
    stack.env.update(
        {
            "EMAIL_URL": "memorymail://",
            "CAMPAIGNS_TICK_SECONDS": "1",
            # One broadcast message a person: the site's daily cap stays out of the way.
            "CAMPAIGNS_MARKETING_CAP_PER_DAY": "0",
        }
    )
    return stack


def broadcast_figure(*, people: int, log: Callable[[str], None]) -> benchmarks.Figure:
    """A broadcast, now, to a segment of `people`: from activation until every message is
    recorded as handed to the email backend."""
    log(f"Generating {people:,} people for the broadcast …")
    members_generate(people, trait="bench_list", value="winter")
    segment = trait_segment("Bench broadcast list", "bench_list", "winter")
    with tempfile.TemporaryDirectory() as folder:
        stack = stack_for_journeys(folder)
        log(f"Starting a Celery worker ({WORKER_PROCESSES} processes) with beat …")
        stack.start_worker(concurrency=WORKER_PROCESSES, beat=True)
        try:
            time.sleep(5)  # the worker's start is not the broadcast's time
            started = time.monotonic()
            campaign = journey_start(
                "Bench broadcast", {"kind": "broadcast", "segment": segment.pk, "repeat": "none"}
            )
            sent = Message.objects.filter(campaign=campaign, status=Message.Status.SENT)
            enrolled_at = None
            while True:
                time.sleep(0.5)
                elapsed = time.monotonic() - started
                run = JourneyRun.objects.filter(campaign=campaign).first()
                if enrolled_at is None and run is not None and run.finished_at is not None:
                    if run.error:
                        raise CommandError(f"the broadcast failed: {run.error}")
                    enrolled_at = elapsed
                if sent.count() >= people:
                    break
                # At 20 messages a second at least, or something is stuck.
                if elapsed > max(600, people / 20):
                    raise CommandError(
                        f"the broadcast sent {sent.count():,} of {people:,} in {elapsed:.0f} s"
                    )
        finally:
            stack.stop()
    elapsed = time.monotonic() - started
    messages = Message.objects.filter(campaign=campaign).count()
    enrollments = Enrollment.objects.filter(campaign=campaign).count()
    if messages != people or enrollments != people:
        raise CommandError(f"{enrollments:,} enrolled and {messages:,} messages for {people:,}")
    return benchmarks.Figure(
        name=f"Broadcast to {people:,} people",
        value=round(people / elapsed, 1),
        unit="messages/s",
        runs=1,
        detail=(
            f"all {people:,} rendered and handed to the email backend (locmem) in {elapsed:.1f} s"
            f" (target 60 s), everyone enrolled after {enrolled_at or 0:.1f} s; "
            f"{WORKER_PROCESSES} worker processes, beat every second"
        ),
        samples=[round(elapsed, 2)],
    )


def segment_entry_figure(*, samples: int, log: Callable[[str], None]) -> benchmarks.Figure:
    """An identify that puts a person in a segment (posted to the API, behind 100 events of
    other shoppers' traffic) until their first step, an email, is handed to the backend."""
    segment = trait_segment("Bench VIPs", "bench_tier", "vip")
    journey_start("Bench VIP welcome", {"kind": "segment", "segment": segment.pk, "on": "entry"})
    source = services.source_create(actor=BENCH, name="Bench journeys")
    key = source.write_keys.get().key
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        stack = stack_for_journeys(folder)
        log("Starting the web server and a worker for the segment entry latency …")
        stack.start_web()
        stack.start_worker(concurrency=WORKER_PROCESSES, beat=True)
        try:
            for n in range(samples + 1):
                traffic = [
                    {
                        "type": "track",
                        "userId": f"shopper-{(n * 100 + i) % 700}",
                        "event": "Product Viewed",
                        "messageId": f"traffic-{uuid.uuid4()}",
                        "properties": {"sku": f"SKU-{i}", "price": 19.5, "category": "Hats"},
                    }
                    for i in range(100)
                ]
                user = f"vip-{n}-{uuid.uuid4().hex[:6]}"
                identify = {
                    "type": "identify",
                    "userId": user,
                    "messageId": f"vip-{uuid.uuid4()}",
                    "traits": {
                        "email": f"{user}@example.com",
                        "email_consent": True,
                        "bench_tier": "vip",
                    },
                }
                requests_ = [
                    benchmarks.http_request(
                        "/v1/batch", json.dumps({"batch": traffic}).encode(), write_key=key
                    ),
                    benchmarks.http_request(
                        "/v1/batch", json.dumps({"batch": [identify]}).encode(), write_key=key
                    ),
                ]
                start = time.monotonic()
                benchmarks.post_all(port=stack.port, requests_=requests_, clients=1)
                sent = Message.objects.filter(
                    recipient=f"{user}@example.com", status=Message.Status.SENT
                )
                while not sent.exists():
                    if time.monotonic() - start > 120:
                        raise CommandError("the segment entry's email was never sent")
                    time.sleep(0.02)
                if n:  # the first one may wait for the worker's first tasks
                    latencies.append(time.monotonic() - start)
        finally:
            stack.stop()
    return benchmarks.Figure(
        name="Segment entry to first step, p95",
        value=round(benchmarks.percentile(latencies, 0.95), 3),
        unit="s",
        runs=len(latencies),
        detail=(
            "an identify that puts a person in a segment, posted behind 100 events of other "
            "traffic, until the journey's email is handed to the backend (target 5 s); median "
            f"{statistics.median(latencies):.2f} s; {WORKER_PROCESSES} worker processes"
        ),
        samples=[round(latency, 3) for latency in latencies],
    )


def journeys_figures(
    report: benchmarks.Report, *, people: int, samples: int, log: Callable[[str], None]
) -> None:
    started = timezone.now()
    report.figures.append(segment_entry_figure(samples=samples, log=log))
    report.figures.append(broadcast_figure(people=people, log=log))
    log(f"Journeys' figures took {(timezone.now() - started).total_seconds():.0f} s")
