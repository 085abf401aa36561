"""Render the systemd units and timers and the nginx site for this installation (citygrid/deployment.py):
deploy/install.sh runs it with the installation's environment files loaded, the tests with their own."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from citygrid import deployment, pitr


class Command(BaseCommand):
    help = "Write the systemd units and the nginx site, with this installation's paths and limits, into a folder."

    def add_arguments(self, parser):
        d = deployment.Layout(prefix=settings.BASE_DIR)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--prefix", type=Path, default=d.prefix, help="where manage.py and .venv are")
        parser.add_argument("--user", default=d.user, help="the services' OS user")
        parser.add_argument("--pg-os-user", default=d.pg_os_user, help="the PostgreSQL cluster's OS user")
        parser.add_argument("--env-file", type=Path, default=d.env_file)
        parser.add_argument("--backup-env-file", type=Path, default=d.backup_env_file, help="the units' path")
        parser.add_argument("--read-backup-env", type=Path, default=None,
                            help="where to read it now (default: --backup-env-file; a staged install's copy)")
        parser.add_argument("--web-bind", default=d.web_bind, help="gunicorn's address (WEB_BIND)")
        parser.add_argument("--server-name", default=d.server_name)
        parser.add_argument("--http-listen", default=d.http_listen)
        parser.add_argument("--https-listen", default=d.https_listen)
        parser.add_argument("--tls-cert", type=Path, default=d.tls_cert)
        parser.add_argument("--tls-key", type=Path, default=d.tls_key)
        parser.add_argument("--log-dir", type=Path, default=d.log_dir, help="nginx's log folder")

    def handle(self, *args, **opts):
        layout = deployment.Layout(
            prefix=opts["prefix"], user=opts["user"], pg_os_user=opts["pg_os_user"], env_file=opts["env_file"],
            backup_env_file=opts["backup_env_file"], web_bind=opts["web_bind"], server_name=opts["server_name"],
            http_listen=opts["http_listen"], https_listen=opts["https_listen"], tls_cert=opts["tls_cert"],
            tls_key=opts["tls_key"], log_dir=opts["log_dir"])
        backup_env = opts["read_backup_env"] or opts["backup_env_file"]
        if backup_env.exists():
            # The paths the backup jobs write: the repositories on disk, pgBackRest's log, spool and locks.
            try:
                cfg = pitr.config_from_env(pitr.environment(backup_env))
            except pitr.PitrError as exc:
                raise CommandError(f"{backup_env}: {exc}") from exc
            posix = [r for r in cfg.repos if r.type == "posix"]
            layout.pgbackrest_paths = tuple(dict.fromkeys(
                [r.path for r in posix] + [str(cfg.log_path), str(cfg.spool_path), str(cfg.lock_path)]))
            layout.media_repo_paths = tuple(str(Path(r.media_location())) for r in posix)
        try:
            written = deployment.render_all(opts["out"], layout)
        except (deployment.RenderError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        for path in written:
            self.stdout.write(str(path))
