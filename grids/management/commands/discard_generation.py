from grids import generations
from grids.management.generation_command import GenerationCommand


class Command(GenerationCommand):
    help = ("Throw away the pending boundary generation (made by --new-generation, never activated): its rows "
            "are deleted and the rows it ended are open again.")

    def change(self, generation):
        return generations.discard(generation)

    def report(self, number, counts):
        return (f"generation {number} discarded: {counts['areas']} areas and {counts['cells']} cells deleted, "
                f"{counts['reopened']} rows open again")
