from django.core.management.base import BaseCommand, CommandError

from assets.pipe_import import import_pipes
from grids.importing import ImportFailed


class Command(BaseCommand):
    help = ("Import a pipe network from a GIS file with a layer of points (管点) and a layer of segments (管段), in "
            "any CRS. All or nothing. Segments name their points in from/to fields, or meet them at their ends.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--network", required=True, help="code of the new network")
        parser.add_argument("--kind", required=True, help="给水 雨水 污水 燃气 热力 电力 通信 工业 (or water, storm…)")
        parser.add_argument("--name", default="")
        parser.add_argument("--owner", default="")
        parser.add_argument("--points-layer", default="points")
        parser.add_argument("--segments-layer", default="segments")
        parser.add_argument("--srid", type=int, help="EPSG code of the file's CRS when it declares none")
        parser.add_argument("--snap", type=float, default=0.5, help="metres within which a segment's end meets a point")

    def handle(self, *args, **opts):
        try:
            report = import_pipes(opts["file"], network=opts["network"], kind=opts["kind"], name=opts["name"],
                                  owner=opts["owner"], points_layer=opts["points_layer"],
                                  segments_layer=opts["segments_layer"], srid=opts["srid"], snap_m=opts["snap"])
        except ImportFailed as exc:
            if exc.report is not None:
                for problem in exc.report.rejected[:50]:
                    self.stderr.write(f"rejected {problem}")
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"network {opts['network']}: {report.created} points and segments imported")
