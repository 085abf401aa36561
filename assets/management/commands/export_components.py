from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from assets.exporting import ExportFailed, export_csv, export_gpkg


class Command(BaseCommand):
    help = "Export the component census as a GeoPackage (.gpkg) or CSV (.csv), by the file's extension."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--district", help="code of one district (default: the whole city)")

    def handle(self, *args, **opts):
        path = Path(opts["file"])
        if not path.parent.is_dir():
            raise CommandError(f"cannot write {path}: no folder {path.parent}")
        suffix = path.suffix.lower()
        if suffix not in (".gpkg", ".csv"):
            raise CommandError(f"{path}: give a .gpkg or .csv file name")
        try:
            n = export_gpkg(path, opts["district"]) if suffix == ".gpkg" else export_csv(path, opts["district"])
        except (ExportFailed, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{n} components written to {path}")
