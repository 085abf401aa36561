from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from citygrid.dbroles import OWNER, RUNTIME, differences, role_name


class Command(BaseCommand):
    help = ("List every table, sequence or function whose grants differ from those declared in "
            "citygrid/dbroles.py, and any power the runtime role should not have; exits 1 when there is one.")

    def handle(self, *args, **opts):
        try:
            with connection.cursor() as cur:
                problems = differences(cur)
        except DatabaseError as exc:
            raise CommandError(f"cannot read the grants: {str(exc).strip().splitlines()[0]}") from exc
        for line in problems:
            self.stderr.write(line)
        if problems:
            raise CommandError(f"{len(problems)} differences from the declared grants")
        self.stdout.write(f"grants as declared: the runtime role {role_name(RUNTIME)} is no superuser, owns "
                          f"nothing and holds only its grants; {role_name(OWNER)} owns the schema")
