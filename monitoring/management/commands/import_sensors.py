"""manage.py import_sensors FILE.csv — create or update sensors, all or nothing."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from monitoring.registry import CSV_COLUMNS, SensorImportError, import_csv


class Command(BaseCommand):
    help = f"Import sensors from a CSV file with the columns {', '.join(CSV_COLUMNS)} (all or nothing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")

    def handle(self, *args, path: str, **options) -> None:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            created, updated = import_csv(text)
        except SensorImportError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        self.stdout.write(f"{created} sensors created, {updated} updated")
