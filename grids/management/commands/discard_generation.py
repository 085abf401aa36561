from django.core.management.base import BaseCommand, CommandError

from grids import generations
from grids.generation import analyze_grid_tables
from grids.models import Generation


class Command(BaseCommand):
    help = ("Throw away the pending boundary generation (made by --new-generation, never activated): its rows "
            "are deleted and the rows it ended are open again.")

    def add_arguments(self, parser):
        parser.add_argument("generation", type=int)

    def handle(self, *args, **opts):
        generation = Generation.objects.filter(pk=opts["generation"]).first()
        if generation is None:
            raise CommandError(f"no generation {opts['generation']}")
        try:
            counts = generations.discard(generation)
        except generations.GenerationsError as exc:
            raise CommandError(str(exc)) from exc
        analyze_grid_tables()
        self.stdout.write(f"generation {opts['generation']} discarded: {counts['areas']} areas and {counts['cells']} "
                          f"cells deleted, {counts['reopened']} rows open again")
