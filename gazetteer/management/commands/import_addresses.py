from django.core.management.base import BaseCommand, CommandError

from gazetteer.importing import FIELDS, ROAD_FIELDS, import_addresses, import_roads
from grids.importing import ImportFailed


class Command(BaseCommand):
    help = ("Import addresses — door numbers, buildings, landmarks — (or, with --roads, road centre lines) into the "
            "gazetteer from a GIS file (GeoJSON, Shapefile, GeoPackage, CSV with WKT or lon/lat columns), "
            "transformed from the file's CRS to WGS84. All or nothing: one rejected feature imports nothing; codes "
            "already in the gazetteer are refused unless --update.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--roads", action="store_true", help="the file holds roads (lines: name, aliases)")
        for field in sorted(set(FIELDS) | set(ROAD_FIELDS)):
            parser.add_argument(f"--{field}-field", dest=f"{field}_field", default=field,
                                help=f"attribute holding the {field} (default: {field})")
        parser.add_argument("--lon-field", default="lon", help="a CSV's longitude (or x) column (default: lon)")
        parser.add_argument("--lat-field", default="lat", help="a CSV's latitude (or y) column (default: lat)")
        parser.add_argument("--srid", type=int, help="EPSG code of the file's CRS when it declares none")
        parser.add_argument("--from-gcj02", action="store_true", help="coordinates are GCJ-02: convert them")
        parser.add_argument("--update", action="store_true", help="update addresses whose code exists")
        parser.add_argument("--layer", help="layer name (default: the first)")

    def handle(self, *args, **opts):
        def progress(done: int, total: int) -> None:
            if opts["verbosity"] >= 1:
                self.stderr.write(f"  … {done}/{total} features read")

        try:
            if opts["roads"]:
                report = import_roads(opts["file"], mapping={f: opts[f"{f}_field"] for f in ROAD_FIELDS},
                                      srid=opts["srid"], from_gcj02=opts["from_gcj02"], layer_name=opts["layer"],
                                      progress=progress)
            else:
                report = import_addresses(opts["file"], mapping={f: opts[f"{f}_field"] for f in FIELDS},
                                          srid=opts["srid"], from_gcj02=opts["from_gcj02"], update=opts["update"],
                                          layer_name=opts["layer"], lon_field=opts["lon_field"],
                                          lat_field=opts["lat_field"], progress=progress)
        except ImportFailed as exc:
            if exc.report is not None:
                for problem in exc.report.rejected[:50]:
                    self.stderr.write(f"rejected {problem}")
            raise CommandError(str(exc)) from exc
        from citygrid.dbroles import analyze

        analyze("gazetteer_road", "gazetteer_address")
        self.stdout.write(report.summary())
