from profiles.management.commands._import_csv import ImportCommand


class Command(ImportCommand):
    help = (
        "Import past orders from a CSV file through the ingest pipeline (docs/profiles.md, "
        "Imports) and print the report: imported, unchanged, refused lines and why."
    )
    kind = "orders"
