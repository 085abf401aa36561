from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from grids import generations
from grids.generation import analyze_grid_tables
from grids.importing import LEVELS, ImportFailed, import_areas


class Command(BaseCommand):
    help = ("Import area or cell boundaries from a GIS file (GeoJSON, Shapefile, GeoPackage…), transformed "
            "from the file's CRS to WGS84. All or nothing: one rejected feature imports nothing.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--level", required=True, choices=list(LEVELS))
        parser.add_argument("--code-field", default="code", help="attribute holding the code (default: code)")
        parser.add_argument("--name-field", default="name", help="attribute holding the name (default: name)")
        parser.add_argument("--parent", dest="parent_code",
                            help="code of the parent area; otherwise found from the code or by location")
        parser.add_argument("--srid", type=int,
                            help="EPSG code of the file's CRS when it declares none, or to override it")
        parser.add_argument("--from-gcj02", action="store_true",
                            help="coordinates are GCJ-02 (AMap/Tencent): convert them to WGS84")
        parser.add_argument("--no-repair", dest="repair", action="store_false",
                            help="reject invalid geometries instead of repairing them")
        parser.add_argument("--update", action="store_true", help="replace areas whose code already exists")
        parser.add_argument("--layer", help="layer name (default: the first)")
        parser.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                            help="import only features whose FIELD equals VALUE (repeatable)")
        parser.add_argument("--new-generation", metavar="DESCRIPTION", nargs="?", const="",
                            help="write into a new (pending) generation instead of the active one: changed areas "
                                 "get new rows there, cases keep the old; see show_generation, activate_generation")

    def handle(self, *args, **opts):
        where = {}
        for clause in opts["where"]:
            field, sep, value = clause.partition("=")
            if not sep:
                raise CommandError(f"--where {clause!r}: expected FIELD=VALUE")
            where[field] = value

        def progress(done: int, total: int) -> None:
            if opts["verbosity"] >= 1:
                self.stderr.write(f"  … {done}/{total} features read")

        try:
            with transaction.atomic():
                generation = None
                if opts["new_generation"] is not None:
                    generation = generations.new_generation(opts["new_generation"] or f"import_areas {opts['file']}")
                report = import_areas(
                    opts["file"], opts["level"], code_field=opts["code_field"], name_field=opts["name_field"],
                    parent_code=opts["parent_code"], srid=opts["srid"], from_gcj02=opts["from_gcj02"],
                    repair=opts["repair"], update=opts["update"], layer_name=opts["layer"], where=where,
                    progress=progress, generation=generation,
                )
        except ImportFailed as exc:
            if exc.report is not None:
                for problem in exc.report.rejected:
                    self.stderr.write(f"rejected {problem}")
            raise CommandError(str(exc)) from exc
        analyze_grid_tables()
        for problem in report.repaired:
            self.stderr.write(f"repaired {problem}")
        self.stdout.write(report.summary())
        if report.regrid:
            self.stdout.write(f"communities whose boundary moved have no cells in generation {report.generation}: "
                              f"`generate_cells {' '.join(report.regrid)} --new-generation`")
        if report.generation is not None:
            self.stdout.write(f"review with `show_generation {report.generation}`, then "
                              f"`activate_generation {report.generation}`")
