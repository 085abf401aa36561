from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import ProtectedError, Q

from grids import generations
from grids.generation import GenerationError, analyze_grid_tables, generate_cells
from grids.models import Area, Level


class Command(BaseCommand):
    help = ("Divide communities into square unit grid cells (computed in a metric projection), clipped to "
            "the community, coded west→east then north→south. Communities that already have cells are left "
            "alone unless --replace.")

    def add_arguments(self, parser):
        parser.add_argument("codes", nargs="*",
                            help="codes of communities, or of streets/districts whose communities to divide "
                                 "(default: every community)")
        parser.add_argument("--size", type=float, default=None, help="cell side in metres (default 100)")
        parser.add_argument("--min-fraction", type=float, default=0.3,
                            help="boundary pieces smaller than this fraction of a square merge into a "
                                 "neighbour (default 0.3)")
        parser.add_argument("--srid", type=int, help="metric projection (default: the CGCS2000 3° zone)")
        parser.add_argument("--replace", action="store_true",
                            help="replace existing cells in place (refused when cases point at them)")
        parser.add_argument("--new-generation", metavar="DESCRIPTION", nargs="?", const="",
                            help="re-grid into a new (pending) generation, replacing the communities' cells there; "
                                 "cases keep the old cells; see show_generation, activate_generation")

    @transaction.atomic
    def handle(self, *args, **opts):
        from django.conf import settings

        size = opts["size"] or settings.GRID_CELL_SIZE_M
        generation = None
        if opts["new_generation"] is not None:
            if not opts["codes"]:
                raise CommandError("--new-generation re-grids the communities given: name them by code")
            generation = generations.new_generation(opts["new_generation"] or "generate_cells "
                                                    + " ".join(opts["codes"]))
        areas = Area.objects.in_generation(generation) if generation else Area.objects.current()
        communities = areas.filter(level=Level.COMMUNITY).select_related("parent")
        if opts["codes"]:
            known = set(areas.filter(code__in=opts["codes"]).values_list("code", flat=True))
            missing = sorted(set(opts["codes"]) - known)
            if missing:
                raise CommandError(f"no area with code {', '.join(missing)}")
            query = Q()
            for code in opts["codes"]:
                query |= Q(code__startswith=code)
            communities = communities.filter(query)
        total = made = 0
        for community in communities.order_by("code"):
            try:
                result = generate_cells(community, size=size, min_fraction=opts["min_fraction"],
                                        srid=opts["srid"], replace=opts["replace"] or generation is not None,
                                        generation=generation)
            except GenerationError as exc:
                raise CommandError(str(exc)) from exc
            except ProtectedError as exc:
                raise CommandError(f"{community.code} {community.name}: its cells are in use (cases point at "
                                   "them); re-grid with --new-generation instead of --replace") from exc
            total += 1
            made += result.cells
            if opts["verbosity"] >= 2 or (opts["verbosity"] >= 1 and not result.skipped):
                state = "kept existing cells" if result.skipped else f"{result.cells} cells"
                self.stderr.write(f"  {community.code} {community.name}: {state}")
        analyze_grid_tables()
        self.stdout.write(f"{made} cells generated in {total} communities")
        if generation is not None:
            self.stdout.write(f"written into generation {generation.pk}, not active yet: review it with "
                              f"`show_generation {generation.pk}`, then `activate_generation {generation.pk}`")
