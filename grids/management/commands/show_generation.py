from django.core.management.base import BaseCommand, CommandError

from grids import generations
from grids.models import Area, Cell, Generation


class Command(BaseCommand):
    help = ("List the boundary generations, or show what one changes against the active generation (or "
            "--against N): areas added, removed, moved (with the area that changed hands), renamed, reparented, "
            "and cells added and removed per community.")

    def add_arguments(self, parser):
        parser.add_argument("generation", nargs="?", type=int, help="default: the pending generation, if any")
        parser.add_argument("--against", type=int, help="compare with this generation (default: the active one)")

    def handle(self, *args, **opts):
        try:
            active = generations.active_generation()
        except generations.GenerationsError as exc:
            raise CommandError(str(exc)) from exc
        for g in Generation.objects.order_by("pk"):
            state = "active" if g.active else ("pending" if g.pk > active.pk else "")
            self.stdout.write(f"{g.pk:>4} {g.created:%Y-%m-%d %H:%M} {state:<8} {Area.objects.in_generation(g).count()}"
                              f" areas, {Cell.objects.in_generation(g).count()} cells  {g.description}")
        target_id = opts["generation"]
        if target_id is None:
            pending = generations.pending_generation()
            if pending is None:
                return
            target_id = pending.pk
        target = Generation.objects.filter(pk=target_id).first()
        base = Generation.objects.filter(pk=opts["against"]).first() if opts["against"] else active
        if target is None or base is None:
            raise CommandError(f"no generation {target_id if target is None else opts['against']}")
        for line in generations.diff(target, base).lines():
            self.stdout.write(line)
