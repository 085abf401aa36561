from django.core.management.base import BaseCommand, CommandError

from assets.importing import FIELDS, import_components
from grids.importing import ImportFailed


class Command(BaseCommand):
    help = ("Import a component census from a GIS file (GeoJSON, Shapefile, GeoPackage, CSV with WKT…), "
            "transformed from the file's CRS to WGS84. All or nothing: one rejected feature imports nothing; "
            "codes already in the census are refused unless --update.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        for field in FIELDS:
            parser.add_argument(f"--{field.replace('_', '-')}-field", dest=f"{field}_field", default=field,
                                help=f"attribute holding the {field.replace('_', ' ')} (default: {field})")
        parser.add_argument("--srid", type=int, help="EPSG code of the file's CRS when it declares none")
        parser.add_argument("--from-gcj02", action="store_true", help="coordinates are GCJ-02: convert them")
        parser.add_argument("--update", action="store_true", help="update components whose code exists")
        parser.add_argument("--layer", help="layer name (default: the first)")

    def handle(self, *args, **opts):
        mapping = {field: opts[f"{field}_field"] for field in FIELDS}

        def progress(done: int, total: int) -> None:
            if opts["verbosity"] >= 1:
                self.stderr.write(f"  … {done}/{total} features read")

        try:
            report = import_components(opts["file"], mapping=mapping, srid=opts["srid"],
                                       from_gcj02=opts["from_gcj02"], update=opts["update"],
                                       layer_name=opts["layer"], progress=progress)
        except ImportFailed as exc:
            if exc.report is not None:
                for problem in exc.report.rejected[:50]:
                    self.stderr.write(f"rejected {problem}")
            raise CommandError(str(exc)) from exc
        from citygrid.dbroles import analyze

        analyze("assets_component")
        self.stdout.write(report.summary())
