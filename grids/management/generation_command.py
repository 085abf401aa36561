"""What activate_generation and discard_generation share: find the generation by its number, change it, refresh
the planner's statistics, and say what changed (or one readable line and a non-zero exit)."""

from django.core.management.base import BaseCommand, CommandError

from grids import generations
from grids.generation import analyze_grid_tables
from grids.models import Generation


class GenerationCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("generation", type=int)

    def change(self, generation: Generation) -> dict[str, int]:
        raise NotImplementedError

    def report(self, number: int, counts: dict[str, int]) -> str:
        raise NotImplementedError

    def handle(self, *args, **opts):
        generation = Generation.objects.filter(pk=opts["generation"]).first()
        if generation is None:
            raise CommandError(f"no generation {opts['generation']}")
        try:
            counts = self.change(generation)
        except generations.GenerationsError as exc:
            raise CommandError(str(exc)) from exc
        analyze_grid_tables()
        self.stdout.write(self.report(opts["generation"], counts))  # a discarded one has no pk left
