"""The deployment's files — systemd units and timers, the nginx site — rendered from the templates in
deploy/systemd/ and deploy/nginx/ (placeholders `@NAME@`) with this installation's paths and the
application's own limits, so that nginx refuses exactly the bodies the application would and waits on the
live feed longer than a stream lasts. `manage.py render_deploy` writes them; deploy/install.sh installs what
it wrote, and the tests check and run the very same files."""

import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

TEMPLATES = Path(__file__).resolve().parent.parent / "deploy"
# Every unit and timer the installer enables or starts.
SYSTEMD_UNITS = (
    "citygrid.target", "citygrid-web.service", "citygrid-scheduler.service", "citygrid-mqtt.service",
    "citygrid-ingest.service",
    "citygrid-backup-db@.service", "citygrid-backup-db-full.timer", "citygrid-backup-db-diff.timer",
    "citygrid-backup-media.service", "citygrid-backup-media.timer",
    "citygrid-health.service", "citygrid-health.timer", "citygrid-page@.service",
)
NGINX_SITE = "citygrid.conf"
_PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


class RenderError(Exception):
    pass


def body_limit() -> int:
    """The largest request body the application takes: its photos and its form fields."""
    return settings.PHOTO_MAX_COUNT * settings.PHOTO_MAX_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def stream_read_timeout() -> int:
    """How long nginx waits on the live feed between two bytes: longer than a whole stream lasts (keep-alive
    comments come every FEED_POLL_SECONDS, so this is a ceiling, not a wait)."""
    return int(settings.FEED_STREAM_SECONDS) + 30


@dataclass
class Layout:
    """Where this installation keeps things (the defaults are deploy/install.sh's)."""

    prefix: Path
    user: str = "citygrid"
    pg_os_user: str = "postgres"
    env_file: Path = Path("/etc/citygrid/citygrid.env")
    backup_env_file: Path = Path("/etc/citygrid/backup.env")
    web_bind: str = "127.0.0.1:8001"
    server_name: str = "localhost"
    http_listen: str = "80"
    https_listen: str = "443"
    tls_cert: Path = Path("/etc/citygrid/tls/citygrid.crt")
    tls_key: Path = Path("/etc/citygrid/tls/citygrid.key")
    log_dir: Path = Path("/var/log/nginx")
    pgbackrest_paths: tuple[str, ...] = ("/var/lib/pgbackrest", "/var/log/pgbackrest", "/var/spool/pgbackrest")
    media_repo_paths: tuple[str, ...] = ("/var/lib/pgbackrest/media",)

    def values(self) -> dict[str, str]:
        https_port = self.https_listen.rsplit(":", 1)[-1]
        return {
            "PREFIX": str(self.prefix), "USER": self.user, "PG_OS_USER": self.pg_os_user,
            "ENV_FILE": str(self.env_file), "BACKUP_ENV_FILE": str(self.backup_env_file),
            "MEDIA_ROOT": str(Path(settings.MEDIA_ROOT).resolve()),
            "STATIC_ROOT": str(Path(settings.STATIC_ROOT).resolve()), "STATIC_URL": settings.STATIC_URL,
            "STATUS_DIR": str(Path(settings.BACKUP_STATUS_DIR).resolve()),
            "MQTT_DIR": str(Path(settings.MQTT_DIR).resolve()),
            # "-": a path that does not exist (yet) does not stop the unit; the job then says what is missing.
            "PGBACKREST_PATHS": " ".join(f"-{p}" for p in self.pgbackrest_paths),
            "MEDIA_REPO_PATHS": " ".join(f"-{p}" for p in self.media_repo_paths),
            "UPSTREAM": self.web_bind, "SERVER_NAME": self.server_name,
            "HTTP_LISTEN": self.http_listen, "HTTPS_LISTEN": self.https_listen,
            "HTTPS_REDIRECT_PORT": "" if https_port == "443" else f":{https_port}",
            "TLS_CERT": str(self.tls_cert), "TLS_KEY": str(self.tls_key), "LOG_DIR": str(self.log_dir),
            "BODY_MAX": str(body_limit()),
            "BODY_MAX_NOTE": f"{settings.PHOTO_MAX_COUNT} × {settings.PHOTO_MAX_BYTES} + "
                             f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes",
            "FEED_STREAM_SECONDS": str(settings.FEED_STREAM_SECONDS),
            "STREAM_READ_TIMEOUT": str(stream_read_timeout()),
        }


def render(text: str, values: dict[str, str]) -> str:
    missing = sorted({name for name in _PLACEHOLDER.findall(text) if name not in values})
    if missing:
        raise RenderError("no value for " + ", ".join(f"@{name}@" for name in missing))
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def render_all(out: Path, layout: Layout) -> list[Path]:
    """Write out/systemd/<unit> for every unit and out/nginx/citygrid.conf; returns the files written."""
    values = layout.values()
    written = []
    for folder, names in (("systemd", SYSTEMD_UNITS), ("nginx", (NGINX_SITE,))):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            target = out / folder / name
            target.write_text(render((TEMPLATES / folder / name).read_text(encoding="utf-8"), values),
                              encoding="utf-8")
            written.append(target)
    return written
