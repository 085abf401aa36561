from django.core.management.base import BaseCommand, CommandError

from assets.pipe_import import export_pipes
from grids.importing import ImportFailed


class Command(BaseCommand):
    help = "Export a pipe network as a GeoPackage with two layers, points and segments (what import_pipes reads)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--network", required=True)

    def handle(self, *args, **opts):
        if not opts["file"].lower().endswith(".gpkg"):
            raise CommandError(f"{opts['file']}: give a .gpkg file name")
        try:
            n = export_pipes(opts["file"], opts["network"])
        except (ImportFailed, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{n} points and segments written to {opts['file']}")
