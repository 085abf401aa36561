"""Backups (数据备份恢复): the database with its geometry (pg_dump custom format) and the photos, in one
folder with a manifest of counts and checksums; restore into a fresh database and media folder."""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection

COUNTED = ["incidents_case", "incidents_caselog", "incidents_photo", "grids_cell", "grids_area",
           "citygrid_auditevent"]


class BackupError(Exception):
    pass


def _pg_env_args(dbname: str | None = None) -> tuple[dict, list[str]]:
    db = settings.DATABASES["default"]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    args = []
    for flag, key in (("-h", "HOST"), ("-p", "PORT"), ("-U", "USER")):
        if db.get(key):
            args += [flag, str(db[key])]
    return env, [*args, "-d", dbname or db["NAME"]]


def _run(cmd: list[str], env: dict) -> None:
    if shutil.which(cmd[0]) is None:
        raise BackupError(f"{cmd[0]} not found: install the PostgreSQL client (Debian: postgresql-client)")
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{cmd[0]} failed: {result.stderr.strip().splitlines()[-1] if result.stderr else ''}")


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
    env, args = _pg_env_args()
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
    env, args = _pg_env_args("postgres")
    connect = args[:-2]
    _run(["createdb", *connect, database], env)
    _run(["pg_restore", "--no-owner", "--exit-on-error", *connect, "-d", database, str(folder / "database.dump")],
         env)
    media_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "media.tar.gz") as tar:
        for member in tar.getmembers():
            if not member.name.startswith("media") or ".." in Path(member.name).parts:
                raise BackupError(f"unexpected path in media archive: {member.name}")
            member.name = member.name[len("media"):].lstrip("/") or "."
        tar.extractall(media_root, filter="data")
    return manifest
