from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from citygrid.dbroles import NoAdministrator, RolesError, connect, create_database


class Command(BaseCommand):
    help = ("As a PostgreSQL administrator (the OS user, or PGUSER): create the owner, runtime and backup roles "
            "and the configured database with PostGIS, owned by the owner role, if missing; convert a database "
            "made before the roles (owned by the OS user) to that ownership, keeping its data.")

    def handle(self, *args, **opts):
        name = settings.DATABASES["default"]["NAME"]
        try:
            try:
                for line in create_database(name):
                    self.stdout.write(line)
            except NoAdministrator as exc:
                # A server that is not ours (a DBA made the roles and the database): go on if they are there.
                if not self._ready_without_administrator(name):
                    raise
                self.stderr.write(f"roles not checked ({exc}); the owner reaches {name}")
            conn = connect("owner", name)
            with conn.cursor() as cur:
                cur.execute("SELECT postgis_lib_version()")
                version = cur.fetchone()[0]
            conn.close()
        except RolesError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"database {name} ready (PostGIS {version})")

    @staticmethod
    def _ready_without_administrator(name: str) -> bool:
        try:
            conn = connect("owner", name)
        except RolesError:
            return False
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
            ready = cur.fetchone() is not None
        conn.close()
        return ready
