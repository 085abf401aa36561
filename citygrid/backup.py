"""Backups (数据备份恢复): the database with its geometry (pg_dump custom format) and the photos, in one
folder with a manifest of counts and checksums; restore into a fresh database and media folder.

pg_dump reads as the backup role (DATABASE_BACKUP_URL), which may only read. A restore creates the database
as the administrator (PostGIS needs a superuser) and restores everything else as the owner role, then gives
the roles their declared grants (citygrid.dbroles), whatever roles the dumped database had."""

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection

from citygrid import dbroles

COUNTED = ["incidents_case", "incidents_caselog", "incidents_photo", "grids_cell", "grids_area",
           "citygrid_auditevent"]


class BackupError(Exception):
    pass


def _pg_env_args(kind: str, dbname: str | None = None) -> tuple[dict, list[str]]:
    env, args = dbroles.credentials(kind).cli()
    return env, [*args, "-d", dbname or settings.DATABASES["default"]["NAME"]]


def _run(cmd: list[str], env: dict) -> str:
    if shutil.which(cmd[0]) is None:
        raise BackupError(f"{cmd[0]} not found: install the PostgreSQL client (Debian: postgresql-client)")
    result = subprocess.run(cmd, env=env or None, capture_output=True, text=True)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() if result.stderr else [""]
        # pg_restore ends with the failed statement's last line (");"): the line naming the error says more.
        said = next((line for line in lines if "ERROR" in line or "error:" in line), lines[-1])
        raise BackupError(f"{cmd[0]} failed: {said.strip()}")
    return result.stdout


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def counts(cursor) -> dict[str, int]:
    out = {}
    for table in COUNTED:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (fixed table names)
        out[table] = cursor.fetchone()[0]
    return out


def backup(target: Path) -> Path:
    """Write a backup folder under `target`; returns it."""
    folder = target / datetime.now().strftime("citygrid-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=False)
    env, args = _pg_env_args(dbroles.BACKUP)
    dump = folder / "database.dump"
    _run(["pg_dump", "-Fc", "--no-owner", "-f", str(dump), *args], env)
    media = folder / "media.tar.gz"
    with tarfile.open(media, "w:gz") as tar:
        if Path(settings.MEDIA_ROOT).exists():
            tar.add(settings.MEDIA_ROOT, arcname="media")
    with connection.cursor() as cur:
        manifest = {"created": datetime.now().isoformat(), "database": settings.DATABASES["default"]["NAME"],
                    "counts": counts(cur), "files": {p.name: _sha256(p) for p in (dump, media)}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return folder


def restore(folder: Path, *, database: str, media_root: Path) -> dict:
    """Restore a backup folder into `database` (created, must not exist) and `media_root`; returns the
    manifest after checking the files' checksums."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise BackupError(f"{folder}: no manifest.json, not a CityGrid backup")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for name, digest in manifest["files"].items():
        if _sha256(folder / name) != digest:
            raise BackupError(f"{folder / name}: checksum does not match the manifest (damaged backup)")
    try:
        dbroles.create_database(database, must_be_new=True)
    except dbroles.RolesError as exc:
        raise BackupError(str(exc)) from exc
    # PostGIS's entries (the extension, its comment, rows added to spatial_ref_sys) are the administrator's,
    # as when the database was made; everything else is restored as the owner, grants left out and set anew.
    dump = str(folder / "database.dump")
    listing = _run(["pg_restore", "-l", dump], {})
    created = {line.split()[-2] for line in listing.splitlines() if " TABLE public " in line
               and " TABLE DATA " not in line}
    admin_entries, owner_entries = [], []
    for line in listing.splitlines():
        if line.startswith(";") or not line.strip():
            continue
        fields = line.split()
        extension = " EXTENSION " in f" {line} " or (" TABLE DATA public " in line and fields[-2] not in created)
        (admin_entries if extension else owner_entries).append(line)
    for kind, entries in ((dbroles.ADMIN, admin_entries), (dbroles.OWNER, owner_entries)):
        with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as toc:
            toc.write("\n".join(entries) + "\n")
            toc.flush()
            env, args = _pg_env_args(kind, database)
            _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "-L", toc.name, *args, dump],
                 env)
    conn = dbroles.connect(dbroles.OWNER, database)
    with conn, conn.cursor() as cur:
        dbroles.apply_grants(cur)
    conn.close()
    media_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "media.tar.gz") as tar:
        for member in tar.getmembers():
            if not member.name.startswith("media") or ".." in Path(member.name).parts:
                raise BackupError(f"unexpected path in media archive: {member.name}")
            member.name = member.name[len("media"):].lstrip("/") or "."
        tar.extractall(media_root, filter="data")
    return manifest
