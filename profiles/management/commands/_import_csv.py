"""What the import_profiles and import_orders commands share."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cdp_project.access.actors import Actor
from profiles.imports import ImportRefused, csv_import


class ImportCommand(BaseCommand):
    kind = ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the CSV file (UTF-8, with a header row)")

    def handle(self, *args, file: str, verbosity: int = 1, **options) -> None:
        def progress(rows: int) -> None:
            if verbosity > 1:
                self.stderr.write(f"{rows:,} rows read…")

        try:
            with open(file, "rb") as data:
                # Any size: read as a stream, imported a chunk at a time.
                report = csv_import(
                    actor=Actor.system(f"command:import_{self.kind}"),
                    kind=self.kind,
                    data=data,
                    on_progress=progress,
                    file_name=os.path.basename(file),
                )
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from None
        except ImportRefused as refused:
            raise CommandError(f"{file} was not imported: {refused}") from None
        for line in report.summary():
            self.stdout.write(line)
