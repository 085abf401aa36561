"""Point-in-time restore into a NEW cluster beside the live one (README, Operations): pgBackRest restores the
database as it was at a time — cases, their log and the audit trail, with their triggers — and restic the
photos those cases had; nothing of the live cluster is touched.

    manage.py restore_to_time --target '2026-11-26 14:35:00' --data-dir /var/lib/postgresql/15/restored \\
        --port 5440 --media-root /var/lib/citygrid/media-restored

Run as root (pgBackRest and PostgreSQL then run as the cluster's OS user, postgres) with the backup settings
(/etc/citygrid/backup.env, or --backup-env)."""

import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from citygrid import pitr
from citygrid.pgcluster import Cluster, ClusterError, chown_to, default_os_user

# The append-only tables and the triggers that keep them so (incidents 0002, citygrid's audit migrations).
GUARDED_TABLES = ("incidents_caselog", "citygrid_auditevent")
DEFAULT_BACKUP_ENV = Path("/etc/citygrid/backup.env")


def parse_target(value: str) -> datetime | None:
    """An ISO time (without an offset: in TIME_ZONE), or `latest` (the end of the archived WAL)."""
    if value == "latest":
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise CommandError(f"--target {value!r}: give an ISO time such as '2026-11-26 14:35:00' "
                           "(in TIME_ZONE unless it carries an offset) or 'latest'") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))


class Command(BaseCommand):
    help = ("Restore the database and photos as they were at a time (pgBackRest, restic) into a new cluster beside "
            "the live one, start it and say how to reach it.")

    def add_arguments(self, parser):
        parser.add_argument("--target", required=True, help="ISO time (TIME_ZONE unless an offset is given), or "
                                                            "'latest'")
        parser.add_argument("--data-dir", required=True, type=Path, help="the new cluster's data directory (new)")
        parser.add_argument("--port", required=True, type=int, help="the new cluster's port (free)")
        parser.add_argument("--socket-dir", type=Path, default=Path("/var/run/postgresql"))
        parser.add_argument("--repo", type=int, default=1, help="the repository to restore from (2: the off-site "
                                                                "copy)")
        parser.add_argument("--media-root", type=Path, help="restore the photos into this new folder")
        parser.add_argument("--backup-env", type=Path, default=None,
                            help=f"BACKUP_* settings (default: $BACKUP_ENV_FILE, else {DEFAULT_BACKUP_ENV} when "
                                 "it exists)")
        parser.add_argument("--config-from", type=Path, help="folder with pg_hba.conf and pg_ident.conf for a "
                                                             "restored Debian cluster (default: the live server's)")
        parser.add_argument("--database", default=None, help="the application's database (default: DATABASE_URL's)")
        parser.add_argument("--os-user", default=default_os_user())
        parser.add_argument("--timeout", type=float, default=3600, help="seconds recovery may take")

    def handle(self, *args, **opts):
        env_file = opts["backup_env"] or (Path(os.environ["BACKUP_ENV_FILE"]) if os.environ.get("BACKUP_ENV_FILE")
                                          else DEFAULT_BACKUP_ENV if DEFAULT_BACKUP_ENV.exists() else None)
        try:
            cfg = pitr.config_from_env(pitr.environment(env_file))
        except (pitr.PitrError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        target = parse_target(opts["target"])
        dbname = opts["database"] or settings.DATABASES["default"]["NAME"]
        data_dir: Path = opts["data_dir"].resolve()
        if data_dir.exists() and any(data_dir.iterdir()):
            raise CommandError(f"{data_dir} is not empty: restore into a new data directory")
        if (opts["socket_dir"] / f".s.PGSQL.{opts['port']}").exists():
            raise CommandError(f"port {opts['port']} is taken by a running server: choose another")
        cluster = Cluster(data_dir=data_dir, port=opts["port"], socket_dir=opts["socket_dir"],
                          os_user=opts["os_user"])
        when = "the end of the archived WAL" if target is None else target.isoformat(sep=" ")
        self.stdout.write(f"restoring {dbname} as of {when} from repository {opts['repo']} into {data_dir}")
        started = time.monotonic()
        try:
            data_dir.mkdir(mode=0o700, parents=False, exist_ok=True)
            chown_to(data_dir, cluster.os_user)
            pitr.restore_database(cfg, data_dir=data_dir, repo=opts["repo"], target=target)
            if not (data_dir / "postgresql.conf").exists():
                self._debian_config(cluster, opts["config_from"])
            cluster.listen_here()
            cluster.start(timeout=opts["timeout"])
            cluster.wait_promoted(timeout=opts["timeout"], dbname=dbname)
        except (pitr.PitrError, ClusterError, OSError) as exc:
            hint = ("\nThe archive holds no commit after the target yet (it reaches the archive within "
                    "archive_timeout): choose an earlier time, or --target latest for everything archived."
                    if "before configured recovery target was reached" in str(exc) else "")
            raise CommandError(f"{exc}{hint}") from exc
        database_s = time.monotonic() - started
        summary = self._check(cluster, dbname)
        self.stdout.write(f"database restored and promoted in {database_s:.1f} s: {summary['cases']} cases (the "
                          f"newest reported {summary['newest_case'] or '—'}), {summary['log']} case-log entries, "
                          f"{summary['audit']} audit events; append-only triggers: "
                          + ", ".join(f"{t} {'on' if on else 'MISSING'}" for t, on in summary["triggers"].items()))
        if not all(summary["triggers"].values()):
            raise CommandError("a restored table lost its append-only trigger")
        if opts["media_root"]:
            media_started = time.monotonic()
            try:
                media = pitr.restore_media(cfg.repo(opts["repo"]), media_root=opts["media_root"].resolve(),
                                           target=target, referenced=summary["photos"])
            except pitr.PitrError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"photos restored in {time.monotonic() - media_started:.1f} s from snapshot "
                              f"{media['snapshot']} ({media['snapshot_time']}): {media['files']} files, "
                              f"{media['removed']} of later cases left out, {len(media['missing'])} missing"
                              + (f" ({', '.join(media['missing'][:5])}…)" if media["missing"] else ""))
        self.stdout.write(f"restored in {time.monotonic() - started:.1f} s. The restored cluster serves on "
                          f"{cluster.socket_dir} port {cluster.port} (no TCP; archiving off): "
                          f"DATABASE_URL={cluster.url(dbname, 'citygrid_app')}")

    def _debian_config(self, cluster: Cluster, config_from: Path | None) -> None:
        """A Debian cluster keeps its configuration in /etc, outside the data directory a backup holds: the
        restored one gets a minimal postgresql.conf and the live server's client authentication."""
        if config_from is None:
            config_from = self._live_config_dir()
        (cluster.data_dir / "postgresql.conf").write_text(
            "# Written by CityGrid's restore_to_time: the live cluster's configuration stays in /etc.\n"
            "# Port, socket and listen_addresses follow in postgresql.auto.conf.\n", encoding="utf-8")
        for name in ("pg_hba.conf", "pg_ident.conf"):
            source = config_from / name if config_from else None
            if source is not None and source.exists():
                shutil.copy(source, cluster.data_dir / name)
            elif name == "pg_hba.conf":  # nothing to copy: local OS users as themselves only
                (cluster.data_dir / name).write_text("local all all peer\n", encoding="utf-8")
            else:
                (cluster.data_dir / name).write_text("", encoding="utf-8")
        chown_to(cluster.data_dir, cluster.os_user)

    @staticmethod
    def _live_config_dir() -> Path | None:
        from citygrid import dbroles

        try:
            conn = dbroles.connect(dbroles.ADMIN, "postgres")
        except dbroles.RolesError:
            return None
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW hba_file")
                return Path(cur.fetchone()[0]).parent
        finally:
            conn.close()

    @staticmethod
    def _check(cluster: Cluster, dbname: str) -> dict:
        """What the restored database holds, and whether its append-only tables still refuse changes."""
        conn = cluster.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*), max(created_at) FROM incidents_case")
                cases, newest = cur.fetchone()
                cur.execute("SELECT count(*) FROM incidents_caselog")
                log = cur.fetchone()[0]
                cur.execute("SELECT count(*) FROM citygrid_auditevent")
                audit = cur.fetchone()[0]
                cur.execute("SELECT c.relname, bool_and(t.tgenabled = 'O') FROM pg_trigger t JOIN pg_class c ON "
                            "c.oid = t.tgrelid WHERE NOT t.tgisinternal AND c.relname = ANY(%s) AND "
                            "t.tgtype & (8 | 16) <> 0 GROUP BY c.relname", [list(GUARDED_TABLES)])
                triggers = {table: False for table in GUARDED_TABLES} | dict(cur.fetchall())
                cur.execute("SELECT image, thumbnail FROM incidents_photo")
                photos = {name for row in cur.fetchall() for name in row if name}
        finally:
            conn.close()
        return {"cases": cases, "newest_case": newest.isoformat(sep=" ") if newest else None, "log": log,
                "audit": audit, "triggers": triggers, "photos": photos}
