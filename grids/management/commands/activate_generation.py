from grids import generations
from grids.management.generation_command import GenerationCommand


class Command(GenerationCommand):
    help = ("Make a boundary generation the one in use (locating, the map, every list): review it first with "
            "show_generation. An older generation may be activated again to go back.")

    def change(self, generation):
        return generations.activate(generation)

    def report(self, number, counts):
        return (f"generation {number} is active: {counts['grids_area']} areas and {counts['grids_cell']} "
                f"cells changed state, {counts['squares']} lattice squares in use anew, {counts['references']} "
                f"references moved to their successors")
