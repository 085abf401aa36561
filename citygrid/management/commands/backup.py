from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from citygrid.backup import BackupError, backup


class Command(BaseCommand):
    help = "Back up the database (with geometry) and the photos into a new folder with a manifest."

    def add_arguments(self, parser):
        parser.add_argument("--output", default="var/backups", help="where to create the backup folder")

    def handle(self, *args, **opts):
        try:
            folder = backup(Path(opts["output"]))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(folder))
