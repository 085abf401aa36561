from django.core.management.base import BaseCommand, CommandError

from incidents.archive import ArchiveError, archive_through, archived_months, parse_month


class Command(BaseCommand):
    help = ("Move every month of cases up to and including --through (YYYY-MM) into the schema `archive`, whole case "
            "families (cases, log, photos' rows, callbacks, keys …), in one transaction; --list shows the archive.")

    def add_arguments(self, parser):
        parser.add_argument("--through", help="the last month to archive, YYYY-MM (a month that is over)")
        parser.add_argument("--list", action="store_true", help="the archived months and their cases")

    def handle(self, *args, **opts):
        if opts["list"]:
            months = archived_months()
            for month, cases in months:
                self.stdout.write(f"{month}  {cases} cases")
            if not months:
                self.stdout.write("the archive holds no month of cases")
            return
        if not opts["through"]:
            raise CommandError("give --through YYYY-MM (or --list)")
        try:
            done = archive_through(parse_month(opts["through"]))
        except ArchiveError as exc:
            raise CommandError(f"nothing archived: {exc}") from exc
        for table, rows in done.moved:
            if rows:
                self.stdout.write(f"  {table}: {rows}")
        self.stdout.write(f"archived {done.cases} cases through {done.through:%Y-%m}")
        if done.unchecked:
            self.stderr.write(f"the case keys' foreign key is not checked yet ({done.unchecked}): the months are "
                              "archived; it is checked again by the next archive_cases")
