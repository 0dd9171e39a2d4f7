"""`make bench`: generate data in a database of its own, time what users wait for, print a
table and write the figures as JSON. See docs/benchmark.md."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from cdp_project import benchmarks
from ingestion import services
from ingestion.models import Event


class Command(BaseCommand):
    help = "Run the benchmark in a database of its own and print its figures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--profiles", type=int, default=100_000)
        parser.add_argument("--timeline-events", type=int, default=10_000)
        parser.add_argument("--runs", type=int, default=7, help="runs per figure (median)")
        parser.add_argument(
            "--json",
            default=str(Path(settings.VAR_DIR) / "bench" / "results.json"),
            help="where to write the figures",
        )

    def handle(self, *args, **options) -> None:
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
        runs = options["runs"]
        report = benchmarks.Report(
            database=benchmarks.database_description(),
            started_at=benchmarks.now_iso(),
            machine=benchmarks.machine(),
        )
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
        source = services.source_create(name="Bench")
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
        return report

    def _print(self, report: benchmarks.Report) -> None:
        self.stdout.write("")
        self.stdout.write(f"Database: {report.database}")
        self.stdout.write(f"Machine:  {report.machine}")
        self.stdout.write("Pages are timed in-process (Django test client): server work only.")
        self.stdout.write("")
        width = max(len(f.name) for f in report.figures)
        self.stdout.write(f"{'figure'.ljust(width)}  {'median':>10}  runs  data")
        for figure in report.figures:
            self.stdout.write(
                f"{figure.name.ljust(width)}  {figure.median_ms:>7.1f} ms  {figure.runs:>4}  "
                f"{figure.detail}"
            )
