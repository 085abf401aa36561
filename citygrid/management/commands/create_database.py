import psycopg2
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg2 import sql


class Command(BaseCommand):
    help = "Create the configured PostgreSQL database with the PostGIS extension, if missing."

    def handle(self, *args, **opts):
        db = settings.DATABASES["default"]
        params = {k: v for k, v in {"host": db.get("HOST"), "port": db.get("PORT"), "user": db.get("USER"),
                                    "password": db.get("PASSWORD")}.items() if v}
        name = db["NAME"]
        where = f"{params.get('host', 'local socket')}:{params.get('port', 5432)}"
        try:
            conn = psycopg2.connect(dbname="postgres", **params)
        except psycopg2.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
            raise CommandError(f"cannot reach PostgreSQL at {where}: {reason}") from exc
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                self.stdout.write(f"created database {name}")
        conn.close()
        try:
            conn = psycopg2.connect(dbname=name, **params)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                cur.execute("SELECT postgis_lib_version()")
                version = cur.fetchone()[0]
            conn.close()
        except psycopg2.Error as exc:
            reason = str(exc).strip().splitlines()[0]
            raise CommandError(f"database {name}: cannot enable PostGIS ({reason}); install PostGIS for this "
                               "PostgreSQL (Debian: postgresql-<version>-postgis-3)") from exc
        self.stdout.write(f"database {name} ready (PostGIS {version})")
