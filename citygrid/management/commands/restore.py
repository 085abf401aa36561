from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from citygrid.backup import BackupError, restore


class Command(BaseCommand):
    help = ("Restore a backup folder into a new database and a media folder (then point DATABASE_URL and "
            "MEDIA_ROOT at them). Refuses an existing database.")

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--database", required=True, help="name of the database to create")
        parser.add_argument("--media-root", required=True, help="folder to restore the photos into")

    def handle(self, *args, **opts):
        try:
            manifest = restore(Path(opts["folder"]), database=opts["database"], media_root=Path(opts["media_root"]))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        counts = ", ".join(f"{n} {t}" for t, n in manifest["counts"].items())
        self.stdout.write(f"restored into {opts['database']}: {counts}")
