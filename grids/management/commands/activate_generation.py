from django.core.management.base import BaseCommand, CommandError

from grids import generations
from grids.generation import analyze_grid_tables
from grids.models import Generation


class Command(BaseCommand):
    help = ("Make a boundary generation the one in use (locating, the map, every list): review it first with "
            "show_generation. An older generation may be activated again to go back.")

    def add_arguments(self, parser):
        parser.add_argument("generation", type=int)

    def handle(self, *args, **opts):
        generation = Generation.objects.filter(pk=opts["generation"]).first()
        if generation is None:
            raise CommandError(f"no generation {opts['generation']}")
        try:
            counts = generations.activate(generation)
        except generations.GenerationsError as exc:
            raise CommandError(str(exc)) from exc
        analyze_grid_tables()
        self.stdout.write(f"generation {generation.pk} is active: {counts['grids_area']} areas and "
                          f"{counts['grids_cell']} cells changed state, {counts['squares']} lattice squares in use "
                          f"anew, {counts['references']} references moved to their successors")
