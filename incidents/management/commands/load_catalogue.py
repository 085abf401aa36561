from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from incidents.catalogue import CATALOGUE_CSV, load_catalogue
from incidents.models import Category, TimeLimit


class Command(BaseCommand):
    help = "Create or update the catalogue of components and events from a CSV file (default: the shipped one)."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default=str(CATALOGUE_CSV))

    def handle(self, *args, **opts):
        path = Path(opts["file"])
        if not path.exists():
            raise CommandError(f"no such file: {path}")
        try:
            with transaction.atomic():
                count = load_catalogue(Category, TimeLimit, path)
        except (ValueError, KeyError) as exc:
            raise CommandError(f"{path}: {exc}") from exc
        self.stdout.write(f"catalogue: {count} classes and subclasses")
