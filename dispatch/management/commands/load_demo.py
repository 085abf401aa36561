from django.core.management.base import BaseCommand

from assets.demo import load_census, load_pipes
from citygrid.demo_users import demo_password, load_demo_users
from dispatch.demo import load_cases, load_history, load_hotline_cases, load_rules, load_units
from grids.demo import load_demo_city


class Command(BaseCommand):
    help = ("Load the demo city of Xiangtan: real district boundaries (converted from GCJ-02), generated "
            "streets, communities and cells, its bureaus, and demo users for every role. Running it again "
            "completes what is missing and changes nothing else.")

    def add_arguments(self, parser):
        parser.add_argument("--cell-size", type=float, default=100.0, help="cell side in metres (default 100)")

    def handle(self, *args, **opts):
        counts = load_demo_city(cell_size=opts["cell_size"])
        created = load_demo_users()
        self.stdout.write("demo city: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        if created:
            self.stdout.write(f"demo users created: {', '.join(created)} (password: {demo_password()})")
        else:
            self.stdout.write("demo users already present")
        rules = load_rules()
        cases = load_cases()
        history = load_history()
        units = load_units()
        self.stdout.write(f"demo dispatch: {rules} routing rules added, {cases} demo cases added, "
                          f"{history} cases of generated history added, {units} response units added")
        self.stdout.write(f"demo hotline and public reports: {load_hotline_cases()} added")
        census = load_census()
        networks = load_pipes()
        self.stdout.write(f"demo census: {census} components added; pipe networks: "
                          + (", ".join(f"{n} {k}" for k, n in networks.items()) or "already present"))
        # Apps above dispatch (monitoring: the demo sensors), which this command may not import, offer load_demo().
        from django.apps import apps

        for config in apps.get_app_configs():
            if hasattr(config, "load_demo"):
                self.stdout.write(config.load_demo())
