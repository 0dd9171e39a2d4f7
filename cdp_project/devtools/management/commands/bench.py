"""`make bench`: generate data in a database of its own, time what users wait for, print a
table and write the figures as JSON. See docs/benchmark.md."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, Message
from cdp_project.access.actors import Actor
from cdp_project.analytics.funnel import funnel_compute, funnel_sql, funnel_step_names
from cdp_project.devtools import benchmarks
from cdp_project.devtools.bench_journeys import journeys_figures
from cdp_project.devtools.embedded import embedded_database_ensure
from ingestion import services
from ingestion.models import Activity, Event, Source
from profiles.models import Profile
from segments.compiler import segment_count, segment_profiles, segment_sql
from segments.definition import definition_clean
from segments.membership import segment_refresh
from segments.models import Membership, Segment

BENCH = Actor.system("command:bench")


class Command(BaseCommand):
    help = "Run the benchmark in a database of its own and print its figures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--profiles", type=int, default=100_000)
        parser.add_argument("--timeline-events", type=int, default=10_000)
        parser.add_argument(
            "--segment-events", type=int, default=1_000_000, help="events for the segment figures"
        )
        parser.add_argument(
            "--journey-enrollments",
            type=int,
            default=100_000,
            help="enrollments of the journey whose page is timed",
        )
        parser.add_argument("--runs", type=int, default=7, help="runs per figure (median)")
        parser.add_argument(
            "--ingest-events", type=int, default=30_000, help="events per ingest run"
        )
        parser.add_argument("--clients", type=int, default=8, help="concurrent ingest clients")
        parser.add_argument(
            "--only",
            choices=["ingest", "profiles", "segments", "analytics", "journey-pages", "journeys"],
            default="",
            help="run one part of the benchmark",
        )
        parser.add_argument(
            "--broadcast-people", type=int, default=100_000, help="the broadcast's segment size"
        )
        parser.add_argument(
            "--entry-samples", type=int, default=20, help="segment entries timed for the p95"
        )
        parser.add_argument(
            "--json",
            default=str(Path(settings.VAR_DIR) / "bench" / "results.json"),
            help="where to write the figures",
        )

    def handle(self, *args, **options) -> None:
        embedded_database_ensure()
        # Pages render with the same hashed static files as `make run` serves.
        call_command("collectstatic", interactive=False, verbosity=0)
        original = connection.settings_dict["NAME"]
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"{original}_bench"
        self.stdout.write(f"Creating the benchmark database {original}_bench …")
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            report = self._run(options)
        finally:
            connection.creation.destroy_test_db(original, verbosity=0)
        path = Path(options["json"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
        self._print(report)
        self.stdout.write(f"Figures written to {path}")

    def _run(self, options: dict) -> benchmarks.Report:
        report = benchmarks.Report(
            database=benchmarks.database_description(),
            started_at=benchmarks.now_iso(),
            machine=benchmarks.machine(),
        )
        if options["only"] in ("", "ingest"):
            self._ingest(report, options)
        only = options["only"]
        if only in ("", "profiles", "segments", "analytics"):
            # The segment and analytics figures run on the profiles this part generates.
            self._profiles(report, options)
        if only in ("", "segments"):
            # The segment figures generate their store (a tenth first, then the rest) …
            at = self._segments(report, options)
        elif only == "analytics":
            # … which the analytics figures reuse, or generate at once when run alone.
            at = self._segment_store(options)
        if only in ("", "analytics"):
            self._analytics(report, options, at)
        if only in ("", "journey-pages"):
            self._journey_pages(report, options)
        if only == "":
            # Last: its events would otherwise count in the segment and analytics figures.
            self._ingest_at_scale(report, options, at)
        if only in ("", "journeys"):
            # After the rest: their people and messages would count in the figures above.
            journeys_figures(
                report,
                people=options["broadcast_people"],
                samples=options["entry_samples"],
                log=self.stdout.write,
            )
        return report

    def _journey_pages(self, report: benchmarks.Report, options: dict) -> None:
        """The journey page (each step's counts, the goal against the control group) and
        the enrollment list, on a journey with `--journey-enrollments` entries."""
        runs = options["runs"]
        if not Profile.objects.exists():
            self.stdout.write(f"Generating {options['profiles']:,} profiles …")
            benchmarks.profiles_generate(options["profiles"])
        count = options["journey_enrollments"]
        self.stdout.write(f"Generating a journey with {count:,} enrollments …")
        pk = benchmarks.journey_store_generate(enrollments=count)
        client = benchmarks.marketer_client()
        at = f"journey with {count:,} enrollments"
        for name, url in [
            ("Journey page with per-step counts", f"/campaigns/{pk}/"),
            ("Enrollment list, first page", f"/campaigns/{pk}/enrollments/"),
            (
                "Enrollment list, by due time, one step",
                f"/campaigns/{pk}/enrollments/?sort=due&step=wait_order",
            ),
            ("Enrollment list, one person", f"/campaigns/{pk}/enrollments/?person=person300"),
        ]:
            report.figures.append(
                benchmarks.timed(name, benchmarks.get_ok(client, url), runs=runs, detail=at)
            )

    def _segment_store(self, options: dict) -> str:
        events = options["segment_events"]
        source = services.source_create(actor=BENCH, name="Bench segments")
        self.stdout.write(f"Generating {events:,} events for the segment figures …")
        count = benchmarks.segment_store_generate(events=events, source=source)
        return f"{count:,} profiles, {events:,} events"

    def _analytics(self, report: benchmarks.Report, options: dict, at: str) -> None:
        self.stdout.write("Generating orders and the hourly rollup for the analytics figures …")
        made = benchmarks.analytics_store_generate()
        segment_id, members = benchmarks.analytics_segment_generate()
        runs = options["runs"]
        client = benchmarks.marketer_client()
        data = f"{at}, {made['orders']:,} orders"
        report.figures.append(
            benchmarks.Figure(
                name="Hourly rollup, first fold",
                value=made["rollup_ms"],
                unit="ms",
                runs=1,
                detail=f"{made['counted']:,} events folded into the events-per-hour counts",
            )
        )
        for name, url, detail in [
            ("Dashboard", "/", "charts, top activities, profiles and orders"),
            ("Funnel, last 30 days", "/analytics/funnel/?days=30", "four steps, all sources"),
            ("Funnel, last 30 days, one source", "/analytics/funnel/?days=30&source=",
             "four steps"),
            ("Funnel, last 30 days, one segment", "/analytics/funnel/?days=30&segment=",
             f"four steps, a segment of {members:,} people"),
            ("Retention, 12 weekly cohorts", "/analytics/retention/", "first orders by week"),
        ]:  # fmt: skip
            if url.endswith("source="):
                url += str(Source.objects.get(name="Bench segments").pk)
            if url.endswith("segment="):
                url += str(segment_id)
            report.figures.append(
                benchmarks.timed(
                    name, benchmarks.get_ok(client, url), runs=runs, detail=f"{detail}; {data}"
                )
            )
        # What the funnel found, so the figure can be told from one over an empty period,
        # and the plan of its query.
        end = timezone.now()
        start = end - timedelta(days=30)
        funnel = funnel_compute(start=start, end=end)
        people = " → ".join(f"{step.people:,}" for step in funnel.steps)
        figure = next(f for f in report.figures if f.name == "Funnel, last 30 days")
        figure.detail += f"; people per step {people}"
        sql, params = funnel_sql(funnel_step_names(), start=start, end=end)
        report.plans["Funnel, last 30 days"] = benchmarks.explain_analyze(sql, params)

    def _ingest(self, report: benchmarks.Report, options: dict) -> None:
        runs = max(3, min(options["runs"], 5))
        per_run = max(100, options["ingest_events"] // 100 * 100)
        clients = options["clients"]
        source = services.source_create(actor=BENCH, name="Bench ingest")
        key = source.write_keys.get().key
        report.load = (
            f"an asyncio client in the benchmark's process, {clients} keep-alive connections, "
            "on the same machine as the server"
        )
        with tempfile.TemporaryDirectory() as folder:
            stack = benchmarks.Stack(folder=folder)
            self.stdout.write(
                f"Starting the web server (gunicorn, {settings.WEB_WORKERS} workers, "
                f"{settings.WEB_THREADS} threads each) …"
            )
            stack.start_web()
            try:
                self._warm_up(stack, key, clients=clients, run=-1)
                stored = Event.objects.count()
                ingest = self._ingest_throughput(
                    stack, source, runs=runs, per_run=per_run, clients=clients,
                    name="Ingest throughput, HTTP batches of 100",
                    detail=f"{per_run:,} events a run, products arrays, profiles resolved; "
                    f"{stored:,} events stored before the first run",
                )  # fmt: skip
                report.figures.append(ingest)
                report.figures.append(self._processing_throughput(ingest, runs=runs))

                def track(n: int) -> bytes:
                    body = {
                        "userId": f"latency-{n % 50}",
                        "event": "Product Viewed",
                        "messageId": f"latency-{uuid.uuid4()}",
                        "properties": {"sku": f"SKU-{n}", "price": 19.5, "category": "Hats"},
                    }
                    return benchmarks.http_request(
                        "/v1/track", json.dumps(body).encode(), write_key=key
                    )

                benchmarks.post_all(
                    port=stack.port, requests_=[track(n) for n in range(30)], clients=1
                )
                _, latencies, _ = benchmarks.post_all(
                    port=stack.port, requests_=[track(n) for n in range(500)], clients=1
                )
                for share, label in ((0.5, "p50"), (0.99, "p99")):
                    report.figures.append(
                        benchmarks.Figure(
                            name=f"Single event latency, {label}",
                            value=round(benchmarks.percentile(latencies, share) * 1000, 2),
                            unit="ms",
                            runs=len(latencies),
                            detail="POST /v1/track, one client, one request at a time",
                        )
                    )

                self.stdout.write("Starting a Celery worker for the catalog lag …")
                stack.start_worker()
                lags = []
                for n in range(4):
                    name = f"Bench New Activity {uuid.uuid4().hex[:8]}"
                    body = json.dumps({"userId": "lag", "event": name}).encode()
                    request = benchmarks.http_request("/v1/track", body, write_key=key)
                    start = time.monotonic()
                    benchmarks.post_all(port=stack.port, requests_=[request], clients=1)
                    while not Activity.objects.filter(name=name).exists():
                        if time.monotonic() - start > 120:
                            raise CommandError("the worker never put the activity in the catalog")
                        time.sleep(0.02)
                    if n:  # the first one waits for the worker to start
                        lags.append(time.monotonic() - start)
                report.figures.append(
                    benchmarks.Figure(
                        name="Catalog lag",
                        value=round(statistics.median(lags), 3),
                        unit="s",
                        runs=len(lags),
                        detail="a new activity's first event to its row in the catalog",
                        samples=[round(lag, 3) for lag in lags],
                    )
                )
                report.figures.append(self._trigger_latency(stack, key))
            finally:
                stack.stop()

    def _processing_throughput(self, ingest: benchmarks.Figure, *, runs: int) -> benchmarks.Figure:
        """The worker's side of the pipeline: the events the ingest figure stored, processed
        as their tasks would be (batches of 100, every processor), in this process. Its
        ratio is to the ingest figure's COPY reference: the same rows."""
        per_run = 3000
        pending = list(
            Event.objects.filter(processed_at__isnull=True, message_id__startswith="bench-")
            .order_by("pk")
            .values_list("pk", flat=True)[: per_run * runs + 100]
        )
        services.events_process(event_ids=pending[:100])  # the processors' caches filled
        pending = pending[100:]
        per_run = min(per_run, len(pending) // runs) // 100 * 100
        if per_run == 0:
            raise CommandError("the ingest figure left no events to process")
        rates = []
        for run in range(runs):
            self.stdout.write(f"Processing throughput: run {run + 1}/{runs}, {per_run:,} events …")
            ids = pending[run * per_run : (run + 1) * per_run]
            start = time.perf_counter()
            processed = sum(
                services.events_process(event_ids=ids[at : at + 100])
                for at in range(0, len(ids), 100)
            )
            if processed != len(ids):
                raise CommandError(f"processed {processed} of {len(ids)} events")
            rates.append(len(ids) / (time.perf_counter() - start))
        rate, copy = statistics.median(rates), ingest.reference_rate
        assert copy is not None, "the ingest figure carries its COPY reference"
        return benchmarks.Figure(
            name="Processing throughput, batches of 100",
            value=round(rate),
            unit="events/s",
            runs=runs,
            detail=f"{per_run:,} of the ingest figure's events a run through every processor "
            "(catalog, profiles, campaigns), one worker, in the benchmark's process",
            samples=[round(r) for r in rates],
            ratio=round(rate / copy, 3),
            reference=ingest.reference,
            reference_rate=copy,
        )

    def _warm_up(self, stack: benchmarks.Stack, key: str, *, clients: int, run: int) -> None:
        """Ten batches the figures do not count: every web worker has its connections."""
        warm = benchmarks.batch_bodies(batches=10, size=100, run=run)
        benchmarks.post_all(
            port=stack.port,
            requests_=[benchmarks.http_request("/v1/batch", b, write_key=key) for b in warm],
            clients=clients,
        )

    def _ingest_throughput(
        self,
        stack: benchmarks.Stack,
        source: Source,
        *,
        runs: int,
        per_run: int,
        clients: int,
        name: str,
        detail: str,
        first_run: int = 0,
    ) -> benchmarks.Figure:
        """Batches of 100 posted by `clients` connections, then the same rows loaded with
        COPY into the same table: the median rate of each, and their ratio."""
        key = source.write_keys.get().key
        rates, copies = [], []
        for run in range(first_run, first_run + runs):
            bodies = benchmarks.batch_bodies(batches=per_run // 100, size=100, run=run)
            requests_ = [
                benchmarks.http_request("/v1/batch", body, write_key=key) for body in bodies
            ]
            self.stdout.write(f"{name}: run {run - first_run + 1}/{runs}, {per_run:,} events …")
            last_id = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            elapsed, _, answers = benchmarks.post_all(
                port=stack.port, requests_=requests_, clients=clients
            )
            stored = sum(json.loads(body)["accepted"] for status, body in answers if status == 200)
            if stored != per_run:
                raise CommandError(f"the server stored {stored} of {per_run} events")
            rates.append(per_run / elapsed)
            copies.append(
                benchmarks.copy_rate(bodies=bodies, source_id=source.pk, after_id=last_id)
            )
        rate, copy = statistics.median(rates), statistics.median(copies)
        return benchmarks.Figure(
            name=name,
            value=round(rate),
            unit="events/s",
            runs=runs,
            detail=detail,
            samples=[round(r) for r in rates],
            ratio=round(rate / copy, 3),
            reference=f"COPY of the same rows: {round(copy):,} rows/s",
            reference_rate=round(copy),
            reference_samples=[round(c) for c in copies],
        )

    def _ingest_at_scale(self, report: benchmarks.Report, options: dict, at: str) -> None:
        """The ingest figure again once the segment store is in: the same batches into
        tables and indexes ten times as large, for how ingest cost grows with data."""
        source = Source.objects.get(name="Bench ingest")
        per_run = max(100, options["ingest_events"] // 100 * 100)
        stored = Event.objects.count()
        with tempfile.TemporaryDirectory() as folder:
            stack = benchmarks.Stack(folder=folder)
            self.stdout.write("Starting the web server again for ingest at scale …")
            stack.start_web()
            try:
                self._warm_up(
                    stack, source.write_keys.get().key, clients=options["clients"], run=-2
                )
                report.figures.append(
                    self._ingest_throughput(
                        stack, source, runs=3, per_run=per_run, clients=options["clients"],
                        name="Ingest throughput, with the segment store",
                        detail=f"{per_run:,} events a run, as above; {stored:,} events "
                        f"stored before the first run (the segment store: {at})",
                        first_run=100,
                    )
                )  # fmt: skip
            finally:
                stack.stop()

    def _trigger_latency(self, stack: benchmarks.Stack, key: str) -> benchmarks.Figure:
        """`Order Completed` posted to the API until its confirmation is recorded as sent,
        with the worker running (no beat: the enrollment asks for the send itself)."""
        Campaign.objects.filter(kind=Campaign.Kind.ORDER_CONFIRMATION).update(
            status=Campaign.Status.ACTIVE
        )
        latencies = []
        for n in range(6):
            order_id = f"bench-order-{uuid.uuid4().hex[:10]}"
            user = f"buyer-{n}"
            body = json.dumps(
                {"batch": [
                    {"type": "identify", "userId": user,
                     "traits": {"email": f"{user}@example.com"}},
                    {"type": "track", "userId": user, "event": "Order Completed",
                     "properties": {"order_id": order_id, "total": 42.5,
                                    "products": [{"sku": "SKU-1", "price": 42.5}]}},
                ]}
            ).encode()  # fmt: skip
            request = benchmarks.http_request("/v1/batch", body, write_key=key)
            start = time.monotonic()
            benchmarks.post_all(port=stack.port, requests_=[request], clients=1)
            sent = Message.objects.filter(enrollment__key=order_id, status=Message.Status.SENT)
            while not sent.exists():
                if time.monotonic() - start > 120:
                    raise CommandError("the order confirmation was never sent")
                time.sleep(0.02)
            if n:  # the first one may wait for the worker's first task
                latencies.append(time.monotonic() - start)
        return benchmarks.Figure(
            name="Trigger latency",
            value=round(statistics.median(latencies), 3),
            unit="s",
            runs=len(latencies),
            detail="Order Completed posted to its confirmation email sent, one worker",
            samples=[round(latency, 3) for latency in latencies],
        )

    def _profiles(self, report: benchmarks.Report, options: dict) -> None:
        runs = options["runs"]
        client = benchmarks.marketer_client()
        count = options["profiles"]
        self.stdout.write(f"Generating {count:,} profiles …")
        benchmarks.profiles_generate(count)
        probe = count // 3 * 3 // 2 // 3 * 3  # a known profile in the middle
        at = f"at {count:,} profiles"
        for name, url in [
            ("Profiles list, first page", "/profiles/"),
            ("Search by email prefix", f"/profiles/?q=person{probe}"),
            ("Search by exact anonymous id", f"/profiles/?q=anon-{probe + 1}"),
            ("Search by exact user id", f"/profiles/?q=user-{probe}"),
            ("Search by words of a name", "/profiles/?q=Hopper Gra"),
            ("Search that finds nobody", "/profiles/?q=nobody-here"),
        ]:
            report.figures.append(
                benchmarks.timed(name, benchmarks.get_ok(client, url), runs=runs, detail=at)
            )

        events = options["timeline_events"]
        self.stdout.write(f"Generating a profile with {events:,} events …")
        source = services.source_create(actor=BENCH, name="Bench")
        heavy = benchmarks.timeline_generate(events=events, source=source)
        deep = (
            Event.objects.filter(profile=heavy)
            .order_by("-timestamp", "-id")
            .values_list("timestamp", "pk")[events * 9 // 10]
        )
        cursor = f"{int(deep[0].timestamp() * 1_000_000)}.{deep[1]}"
        detail = f"profile with {events:,} events"
        report.figures.append(
            benchmarks.timed(
                "Profile page with its timeline",
                benchmarks.get_ok(client, f"/profiles/{heavy.pk}/"),
                runs=runs,
                detail=detail,
            )
        )
        report.figures.append(
            benchmarks.timed(
                "Timeline, next page 90% of the way down",
                benchmarks.get_ok(
                    client,
                    f"/profiles/{heavy.pk}/?before={cursor}",
                    **{"HX-Request": "true", "HX-Target": "timeline-more"},
                ),
                runs=runs,
                detail=detail,
            )
        )
        report.figures.append(
            benchmarks.timed(
                "Timeline filtered by activity",
                benchmarks.get_ok(
                    client,
                    f"/profiles/{heavy.pk}/?activity=track%3AOrder+Completed",
                    **{"HX-Request": "true", "HX-Target": "timeline-entries"},
                ),
                runs=runs,
                detail=detail,
            )
        )

    def _segments(self, report: benchmarks.Report, options: dict) -> str:
        """The segment figures, on a store they generate; answers what it holds."""
        events = options["segment_events"]
        runs = options["runs"]

        def preview() -> object:
            tree = definition_clean(benchmarks.BENCH_SEGMENT)
            size = segment_count(tree)
            list(segment_profiles(tree).order_by("-last_seen")[:10])
            return size

        # First at a tenth of the events, then with the rest added: how cost grows with data.
        tenth = events // 10
        self.stdout.write(f"Generating {tenth:,} events for the segment figures at a tenth …")
        count = benchmarks.segment_store_generate(
            events=tenth, source=services.source_create(actor=BENCH, name="Bench segments, a tenth")
        )
        small = f"{count:,} profiles, {tenth:,} events"
        report.figures.append(
            benchmarks.timed(
                "Segment preview at a tenth of the events", preview, runs=runs, detail=small
            )
        )
        scaled = Segment.objects.create(
            name="Bench, a tenth", definition=definition_clean(benchmarks.BENCH_SEGMENT)
        )

        def refresh_scaled_from_empty() -> object:
            Membership.objects.filter(segment=scaled).delete()
            return segment_refresh(scaled)

        report.figures.append(
            benchmarks.timed(
                "Segment refresh at a tenth of the events, everyone entering",
                refresh_scaled_from_empty,
                runs=max(3, runs // 2),
                detail=small,
            )
        )
        scaled.delete()

        source = services.source_create(actor=BENCH, name="Bench segments")
        self.stdout.write(f"Generating {events - tenth:,} more events for the segment figures …")
        count = benchmarks.segment_store_generate(
            events=events - tenth, source=source, offset=tenth
        )
        at = f"{count:,} profiles, {events:,} events"

        report.figures.append(
            benchmarks.timed(
                "Segment preview: count and ten samples",
                preview,
                runs=runs,
                detail=f"trait, behaviour in a window with an array-item filter; {at}",
            )
        )
        segment = Segment.objects.create(
            name="Bench", definition=definition_clean(benchmarks.BENCH_SEGMENT)
        )

        def refresh_from_empty() -> object:
            Membership.objects.filter(segment=segment).delete()
            return segment_refresh(segment)

        first = benchmarks.timed(
            "Segment refresh, everyone entering",
            refresh_from_empty,
            runs=max(3, runs // 2),
            detail=at,
        )
        size = Membership.objects.filter(segment=segment).count()
        first.detail = f"{size:,} members; {at}"
        report.figures.append(first)
        report.figures.append(
            benchmarks.timed(
                "Segment refresh, nothing changed",
                lambda: segment_refresh(segment),
                runs=max(3, runs // 2),
                detail=f"{size:,} members; {at}",
            )
        )
        # A wide segment: many people enter at once.
        wide = Segment.objects.create(
            name="Bench wide", definition=definition_clean(benchmarks.BENCH_WIDE_SEGMENT)
        )

        def refresh_wide_from_empty() -> object:
            Membership.objects.filter(segment=wide).delete()
            return segment_refresh(wide)

        figure = benchmarks.timed(
            "Segment refresh, a wide segment entering",
            refresh_wide_from_empty,
            runs=3,
            detail=at,
        )
        wide_size = Membership.objects.filter(segment=wide).count()
        figure.detail = f"{wide_size:,} members (viewed a product in 30 days); {at}"
        report.figures.append(figure)

        # The compiled query (Django's SQL text, the values as parameters) under a count.
        sql, params = segment_sql(segment.definition)
        counted = f"SELECT count(*) FROM ({sql}) AS members"  # noqa: S608
        report.plans["Segment preview count"] = benchmarks.explain_analyze(counted, params)
        return at

    def _print(self, report: benchmarks.Report) -> None:
        self.stdout.write("")
        self.stdout.write(f"Database: {report.database}")
        self.stdout.write(f"Machine:  {report.machine}")
        if report.load:
            self.stdout.write(f"Load:     {report.load}")
        self.stdout.write("Pages are timed in-process (Django test client): server work only.")
        self.stdout.write("")
        for name, plan in report.plans.items():
            self.stdout.write(f"Plan of the slowest query ({name}), EXPLAIN ANALYZE:")
            self.stdout.write(plan)
            self.stdout.write("")
        width = max(len(f.name) for f in report.figures)
        self.stdout.write(f"{'figure'.ljust(width)}  {'median':>18}  {'ratio':>6}  runs  data")
        for figure in report.figures:
            value = f"{figure.value:,.1f} {figure.unit}"
            ratio = f"{figure.ratio:.2f}" if figure.ratio is not None else ""
            detail = figure.detail + (f"; {figure.reference}" if figure.reference else "")
            self.stdout.write(
                f"{figure.name.ljust(width)}  {value:>18}  {ratio:>6}  {figure.runs:>4}  {detail}"
            )
