from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from citygrid.audit import purge_expired


class Command(BaseCommand):
    help = "Delete audit events older than AUDIT_RETENTION_DAYS (at least 180; the database refuses less)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="retention in days (default: AUDIT_RETENTION_DAYS)")

    def handle(self, *args, **opts):
        try:
            deleted = purge_expired(opts["days"])
        except DatabaseError as exc:
            raise CommandError(f"purge refused: {str(exc).splitlines()[0]}") from exc
        self.stdout.write(f"{deleted} audit events past retention deleted")
