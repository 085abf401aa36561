from django.core.management.base import BaseCommand, CommandError

from incidents.archive import ArchiveError, archive_through, archived_months, finish_keys, parse_month


class Command(BaseCommand):
    help = ("Move every month of cases up to and including --through (YYYY-MM) into the schema `archive`, whole case "
            "families (cases, log, photos' rows, callbacks …), in one transaction, their keys in batches after it; "
            "--list shows the archive; --finish moves the keys a stopped run left.")

    def add_arguments(self, parser):
        parser.add_argument("--through", help="the last month to archive, YYYY-MM (a month that is over)")
        parser.add_argument("--list", action="store_true", help="the archived months and their cases")
        parser.add_argument("--finish", action="store_true",
                            help="move the archived cases' keys a stopped run left in the live table, and check them")

    def handle(self, *args, **opts):
        if opts["list"]:
            months = archived_months()
            for month, cases in months:
                self.stdout.write(f"{month}  {cases} cases")
            if not months:
                self.stdout.write("the archive holds no month of cases")
            return
        if opts["finish"]:
            moved, unchecked = finish_keys()
            if unchecked:
                raise CommandError(f"{moved} keys moved, then stopped: {unchecked}")
            self.stdout.write(f"{moved} keys moved; the keys' foreign key is checked")
            return
        if not opts["through"]:
            raise CommandError("give --through YYYY-MM (or --list, or --finish)")
        try:
            done = archive_through(parse_month(opts["through"]))
        except ArchiveError as exc:
            raise CommandError(f"nothing archived: {exc}") from exc
        for table, rows in done.moved:
            if rows:
                self.stdout.write(f"  {table}: {rows}")
        self.stdout.write(f"archived {done.cases} cases through {done.through:%Y-%m}: moved in {done.move_s:.1f} s "
                          f"(reports wait meanwhile), their keys in {done.keys_s:.1f} s after it")
        if done.unchecked:
            self.stderr.write(f"the archived cases' keys are not all moved or checked ({done.unchecked}): the months "
                              "are archived; `archive_cases --finish` (or the next archive) takes it up again")
