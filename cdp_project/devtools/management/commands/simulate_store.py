"""Play a demo e-commerce store through the ingest API (docs/demo-store.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cdp_project.devtools.demo_store import DEMO_SOURCE, StoreSender, StoreSimulation
from cdp_project.devtools.embedded import embedded_database_ensure
from ingestion import selectors
from ingestion.models import Source


def demo_write_key() -> str:
    """The write key of the demo source that `make run` creates."""
    source = Source.objects.filter(name=DEMO_SOURCE).first()
    key = selectors.source_active_write_key(source=source) if source else None
    if key is None:
        raise CommandError(
            f"No source named “{DEMO_SOURCE}” with an active write key: pass --write-key."
        )
    return key.key


class Command(BaseCommand):
    help = "Play a demo store's shoppers through the ingest API: history, then optionally live."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the app's address")
        parser.add_argument("--write-key", default="", help="default: the demo source's key")
        parser.add_argument("--shoppers", type=int, default=300)
        parser.add_argument("--days", type=float, default=60, help="the history's span")
        parser.add_argument(
            "--seed", type=int, default=7, help="the same seed sends the same events"
        )
        parser.add_argument(
            "--rate", type=float, default=0, help="events per second (0: as fast as accepted)"
        )
        parser.add_argument(
            "--live",
            action="store_true",
            help="after the history, keep sending a trickle of visits until Ctrl-C",
        )
        parser.add_argument(
            "--sessions-per-minute", type=float, default=6, help="live traffic's pace"
        )

    def handle(self, *args, **options) -> None:
        if options["shoppers"] < 0 or options["days"] <= 0:
            raise CommandError("--shoppers must be 0 or more and --days more than 0.")
        url = options["url"].rstrip("/")
        if not options["write_key"]:
            embedded_database_ensure()  # the demo source's key is read from the database
        key = options["write_key"] or demo_write_key()
        simulation = StoreSimulation(
            shoppers=options["shoppers"], days=options["days"], seed=options["seed"], base_url=url
        )
        sender = StoreSender(base_url=url, write_key=key, rate=options["rate"])
        result = sender.send(simulation.history())
        stats = simulation.stats
        self.stdout.write(
            f"Played {stats.shoppers:,} shoppers over {options['days']:g} days: "
            f"{stats.sessions:,} visits, {stats.orders:,} orders, {stats.known:,} known people.\n"
            f"Sent to {url}: {result.accepted:,} stored, {result.duplicates:,} already there, "
            f"{result.refused:,} refused."
        )
        if result.errors:
            raise CommandError(
                f"{len(result.errors)} batches could not be sent; the first: {result.errors[0]}"
            )
        if not options["live"]:
            return
        self.stdout.write("Live: sending new visits as they happen. Ctrl-C stops.")
        try:
            for due in simulation.live(sessions_per_minute=options["sessions_per_minute"]):
                if due:
                    sender.send(iter(due))
        except KeyboardInterrupt:
            result = sender.result
            self.stdout.write(
                f"Stopped after {result.accepted:,} events stored in all "
                f"({result.duplicates:,} already there, {result.refused:,} refused)."
            )
