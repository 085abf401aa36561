"""Point-in-time recovery and off-site copies (等保 数据备份恢复: local backup and recovery, real-time copies to
another site): pgBackRest archives every WAL segment and takes full and differential backups into two
repositories — a local path and a second one standing for the off-site copy (a path where the other site's
storage is mounted, or an S3-compatible store) —, each encrypted (aes-256-cbc) with its own passphrase, with
retention as configuration. restic copies the photos to the same places.

Why restic for the photos rather than rsync --checksum: the off-site copy must be encrypted (photos show
people and places; rsync copies them in the clear), and a point-in-time restore needs the photos as they were
at a time (restic keeps snapshots, rsync one mirror). restic is incremental (only new files are read and
sent), stores every piece under its SHA-256 and checks it on restore, speaks to S3 itself, and forgets old
snapshots by rule. Debian packages both tools.

Everything comes from BACKUP_* environment variables (the installer keeps them in /etc/citygrid/backup.env,
readable by root only) so that the web service never holds a passphrase. The jobs the timers run use no
Django (`python -m citygrid.pitr backup --type diff`, `… backup-media`): the database job runs as the
cluster's OS user, who has no business with the application's secret key. Each job records its last success
and failure in BACKUP_STATUS_DIR, which /readyz reads (two small files, no subprocess).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from citygrid.pgcluster import as_os_user, default_os_user

STATUS_KINDS = ("database", "media")
MEDIA_TAG = "citygrid-media"
CIPHER = "aes-256-cbc"


class PitrError(Exception):
    """A backup or restore step failed; the message is one readable line."""


@dataclass(frozen=True)
class Repo:
    """One repository: `posix` (a path: local disk, or the other site's storage mounted here) or `s3`."""

    index: int
    cipher_pass: str
    type: str = "posix"
    path: str = ""
    s3_bucket: str = ""
    s3_endpoint: str = ""
    s3_region: str = ""
    s3_key: str = ""
    s3_key_secret: str = ""
    s3_uri_style: str = "host"

    def pgbackrest_options(self) -> dict[str, str]:
        n = f"repo{self.index}"
        options = {f"{n}-type": self.type, f"{n}-path": self.path or "/", f"{n}-cipher-type": CIPHER,
                   f"{n}-cipher-pass": self.cipher_pass}
        if self.type == "s3":
            options.update({f"{n}-s3-bucket": self.s3_bucket, f"{n}-s3-endpoint": self.s3_endpoint,
                            f"{n}-s3-region": self.s3_region, f"{n}-s3-key": self.s3_key,
                            f"{n}-s3-key-secret": self.s3_key_secret, f"{n}-s3-uri-style": self.s3_uri_style})
        return options

    def media_location(self) -> str:
        """Where restic keeps the photos: beside pgBackRest's archive/ and backup/, in media/."""
        if self.type == "s3":
            host = self.s3_endpoint if "://" in self.s3_endpoint else f"https://{self.s3_endpoint}"
            return "/".join(["s3:" + host, self.s3_bucket, *filter(None, [self.path.strip("/")]), "media"])
        return str(Path(self.path) / "media")

    def media_env(self) -> dict[str, str]:
        env = {"RESTIC_REPOSITORY": self.media_location(), "RESTIC_PASSWORD": self.cipher_pass}
        if self.type == "s3":
            env.update({"AWS_ACCESS_KEY_ID": self.s3_key, "AWS_SECRET_ACCESS_KEY": self.s3_key_secret,
                        "AWS_DEFAULT_REGION": self.s3_region})
        return env

    def describe(self) -> str:
        return (f"repo{self.index} s3://{self.s3_bucket}/{self.path.strip('/')} at {self.s3_endpoint}"
                if self.type == "s3" else f"repo{self.index} {self.path}")


@dataclass(frozen=True)
class Config:
    stanza: str
    config_path: Path
    pg_path: Path
    pg_port: int
    pg_socket: Path
    os_user: str  # the cluster's OS user: pgBackRest runs as it
    pg_user: str  # the superuser pgBackRest connects as (pg_backup_start/stop)
    repos: tuple[Repo, ...]
    retention_full: int = 4
    retention_diff: int = 6
    archive_timeout: int = 60
    media_keep_days: int = 35
    status_dir: Path = Path("var/backup-status")
    log_path: Path = Path("/var/log/pgbackrest")
    lock_path: Path = Path("/tmp/pgbackrest")
    spool_path: Path = Path("/var/spool/pgbackrest")
    process_max: int = 2
    extra: dict[str, str] = field(default_factory=dict)

    def repo(self, index: int) -> Repo:
        for repo in self.repos:
            if repo.index == index:
                return repo
        raise PitrError(f"no repository {index}: configured are " + ", ".join(str(r.index) for r in self.repos))


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile reads them (comments, blank lines, optional quotes)."""
    values: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def environment(env_file: Path | None = None) -> dict[str, str]:
    """BACKUP_* settings: the env file's (when given), the process environment's over them."""
    values = read_env_file(env_file) if env_file else {}
    values.update({k: v for k, v in os.environ.items() if k.startswith("BACKUP_")})
    return values


def config_from_env(env: Mapping[str, str]) -> Config:
    def get(name: str, default: str = "") -> str:
        return env.get(f"BACKUP_{name}", "") or default

    repos = []
    for index in range(1, 5):
        kind = get(f"REPO{index}_TYPE", "posix")
        if not get(f"REPO{index}_PATH") and not get(f"REPO{index}_S3_BUCKET"):
            continue
        if kind not in ("posix", "s3"):
            raise PitrError(f"BACKUP_REPO{index}_TYPE must be posix or s3, not {kind!r}")
        passphrase = get(f"REPO{index}_CIPHER_PASS")
        if len(passphrase) < 20:
            raise PitrError(f"BACKUP_REPO{index}_CIPHER_PASS must be a passphrase of at least 20 characters: "
                            "every repository is encrypted")
        repos.append(Repo(index=index, type=kind, path=get(f"REPO{index}_PATH"), cipher_pass=passphrase,
                          s3_bucket=get(f"REPO{index}_S3_BUCKET"), s3_endpoint=get(f"REPO{index}_S3_ENDPOINT"),
                          s3_region=get(f"REPO{index}_S3_REGION", "us-east-1"), s3_key=get(f"REPO{index}_S3_KEY"),
                          s3_key_secret=get(f"REPO{index}_S3_KEY_SECRET"),
                          s3_uri_style=get(f"REPO{index}_S3_URI_STYLE", "host")))
        if kind == "s3" and not (repos[-1].s3_bucket and repos[-1].s3_endpoint):
            raise PitrError(f"repository {index} is s3: set BACKUP_REPO{index}_S3_BUCKET and _S3_ENDPOINT")
    if not repos:
        raise PitrError("no backup repository configured: set BACKUP_REPO1_PATH (and BACKUP_REPO2_PATH or "
                        "BACKUP_REPO2_TYPE=s3 with its BACKUP_REPO2_S3_* for the off-site copy)")
    os_user = get("OS_USER", default_os_user())
    return Config(
        stanza=get("STANZA", "citygrid"), config_path=Path(get("CONFIG", "/etc/pgbackrest/pgbackrest.conf")),
        pg_path=Path(get("PG_PATH", "/var/lib/postgresql/15/main")), pg_port=int(get("PG_PORT", "5432")),
        pg_socket=Path(get("PG_SOCKET", "/var/run/postgresql")), os_user=os_user,
        pg_user=get("PG_USER", os_user), repos=tuple(repos),
        retention_full=int(get("RETENTION_FULL", "4")), retention_diff=int(get("RETENTION_DIFF", "6")),
        archive_timeout=int(get("ARCHIVE_TIMEOUT", "60")), media_keep_days=int(get("MEDIA_KEEP_DAYS", "35")),
        status_dir=Path(get("STATUS_DIR", "var/backup-status")),
        log_path=Path(get("LOG_PATH", "/var/log/pgbackrest")), lock_path=Path(get("LOCK_PATH", "/tmp/pgbackrest")),
        spool_path=Path(get("SPOOL_PATH", "/var/spool/pgbackrest")), process_max=int(get("PROCESS_MAX", "2")))


# --- configuration files -------------------------------------------------------------------------------------

def render_pgbackrest_conf(cfg: Config) -> str:
    """pgbackrest.conf for the stanza and its repositories. It holds the passphrases: 0640 root:postgres."""
    options: dict[str, str] = {}
    for repo in cfg.repos:
        options.update(repo.pgbackrest_options())
        options[f"repo{repo.index}-retention-full"] = str(cfg.retention_full)
        options[f"repo{repo.index}-retention-diff"] = str(cfg.retention_diff)
    options.update({
        "compress-type": "zst",
        "process-max": str(cfg.process_max),
        "start-fast": "y",  # a backup starts with an immediate checkpoint, not at the next scheduled one
        "log-path": str(cfg.log_path), "lock-path": str(cfg.lock_path), "spool-path": str(cfg.spool_path),
        "log-level-console": "warn", "log-level-file": "info",
        **cfg.extra,
    })
    lines = ["# pgBackRest for CityGrid (README, Operations), rendered from the BACKUP_* settings by",
             "# `python -m citygrid.pitr conf`: change those and render again, not this file.",
             "# It holds the repositories' passphrases: root:postgres, mode 0640.", "", "[global]"]
    lines += [f"{k}={v}" for k, v in options.items()]
    lines += ["", f"[{cfg.stanza}]", f"pg1-path={cfg.pg_path}", f"pg1-port={cfg.pg_port}",
              f"pg1-socket-path={cfg.pg_socket}", f"pg1-user={cfg.pg_user}", ""]
    return "\n".join(lines)


def archive_settings(cfg: Config) -> dict[str, str | int]:
    """The server settings that archive every WAL segment through pgBackRest, at least every archive_timeout
    seconds when anything was written (the most a lost server can lose: README, RPO)."""
    return {"wal_level": "replica", "archive_mode": "on",
            "archive_command": f"pgbackrest --config={cfg.config_path} --stanza={cfg.stanza} archive-push %p",
            "archive_timeout": cfg.archive_timeout}


def render_archive_settings(cfg: Config) -> str:
    """The same as a conf.d file for Debian's cluster (/etc/postgresql/N/main/conf.d/)."""
    lines = ["# CityGrid: continuous WAL archiving through pgBackRest (README, Operations).",
             "# archive_mode needs a server restart; the other settings a reload."]
    for name, value in archive_settings(cfg).items():
        lines.append(f"{name} = {value}" if isinstance(value, int) else f"{name} = '{value}'")
    return "\n".join(lines) + "\n"


# --- pgBackRest ---------------------------------------------------------------------------------------------

def _error_line(text: str) -> str:
    errors = [line.split("ERROR:", 1)[1].strip() for line in text.splitlines() if "ERROR:" in line]
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return errors[0] if errors else (lines[-1] if lines else "no output")


def pgbackrest(cfg: Config, *args: str, timeout: float | None = None) -> str:
    """Run pgBackRest on the stanza as the cluster's OS user; its output, or PitrError with its ERROR line."""
    cmd = as_os_user([os.environ.get("PGBACKREST", "pgbackrest"), f"--config={cfg.config_path}",
                      f"--stanza={cfg.stanza}", *args], cfg.os_user)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise PitrError("pgbackrest not found: install it (Debian: pgbackrest)") from exc
    except subprocess.TimeoutExpired as exc:
        raise PitrError(f"pgbackrest {args[-1]} did not finish in {timeout} s") from exc
    if done.returncode != 0:
        raise PitrError(f"pgbackrest {args[-1]} failed: {_error_line(done.stdout + done.stderr)}")
    return done.stdout


def stanza_create(cfg: Config) -> None:
    """Create the stanza in every repository (again: nothing changes) and check that WAL reaches them."""
    pgbackrest(cfg, "stanza-create")
    pgbackrest(cfg, "check")


def info(cfg: Config) -> dict:
    """pgBackRest's view of the stanza: its backups in every repository and the archived WAL."""
    out = pgbackrest(cfg, "--output=json", "info")
    stanzas = json.loads(out or "[]")
    return stanzas[0] if stanzas else {}


def latest_backups(stanza_info: Mapping) -> dict[int, dict]:
    """The newest backup of each repository: {repo: {"label", "type", "stop" (ISO, UTC)}}."""
    latest: dict[int, dict] = {}
    for backup in stanza_info.get("backup", []):
        repo = int(backup.get("database", {}).get("repo-key", 1))
        stop = backup["timestamp"]["stop"]
        if repo not in latest or stop >= latest[repo]["_stop"]:
            latest[repo] = {"label": backup["label"], "type": backup["type"], "_stop": stop,
                            "stop": datetime.fromtimestamp(stop, UTC).isoformat()}
    return {repo: {k: v for k, v in b.items() if k != "_stop"} for repo, b in latest.items()}


def backup_database(cfg: Config, kind: str) -> dict:
    """A `full`, `diff` or `incr` backup into every repository in turn (pgBackRest writes one repository per
    run), then pgBackRest's expiry by the retention; the outcome recorded for /readyz."""
    if kind not in ("full", "diff", "incr"):
        raise PitrError(f"backup type must be full, diff or incr, not {kind!r}")
    started = _now()
    # Each repository in its own right: the off-site store being unreachable must not cost the local backup,
    # nor a full local disk the off-site one.
    errors = []
    for repo in cfg.repos:
        try:
            pgbackrest(cfg, f"--repo={repo.index}", f"--type={kind}", "backup")
        except PitrError as exc:
            errors.append(f"{repo.describe()}: {exc}")
    try:
        latest = latest_backups(info(cfg))
    except PitrError as exc:
        errors.append(str(exc))
    if errors:
        record(cfg.status_dir, "database", ok=False, detail={"type": kind, "error": "; ".join(errors)})
        raise PitrError("; ".join(errors))
    detail = {"type": kind, "started": started, "repos": {str(r): b for r, b in sorted(latest.items())}}
    record(cfg.status_dir, "database", ok=True, detail=detail)
    return detail


def restore_database(cfg: Config, *, data_dir: Path, repo: int, target: datetime | None) -> None:
    """pgBackRest's restore of the stanza into a new, empty data directory, to `target` (None: the end of the
    archived WAL), promoted when reached; archiving off in the restored cluster, so that it never writes into
    the live cluster's stanza."""
    cfg.repo(repo)
    args = [f"--repo={repo}", f"--pg1-path={data_dir}", "--archive-mode=off", f"--process-max={cfg.process_max}"]
    if target is None:
        args += ["--type=default"]
    else:
        args += ["--type=time", f"--target={target.isoformat(sep=' ')}", "--target-action=promote"]
    pgbackrest(cfg, *args, "restore")


# --- restic: the photos -------------------------------------------------------------------------------------

def restic(repo: Repo, *args: str, timeout: float | None = None) -> str:
    env = {**os.environ, **repo.media_env()}
    cmd = [os.environ.get("RESTIC", "restic"), *(["--no-cache"] if not env.get("RESTIC_CACHE_DIR") else []),
           "--quiet", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except FileNotFoundError as exc:
        raise PitrError("restic not found: install it (Debian: restic)") from exc
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        raise PitrError(f"restic {args[0]} ({repo.describe()}) failed: {lines[-1] if lines else done.returncode}")
    return done.stdout


def ensure_media_repo(repo: Repo) -> None:
    """Initialise the photos' repository the first time. On a path its config file says whether it exists (no
    restic run: each one spends half a second deriving the key); an S3 store is asked."""
    if repo.type == "posix":
        if (Path(repo.media_location()) / "config").exists():
            return
        try:
            Path(repo.media_location()).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PitrError(f"{repo.describe()}: {exc.strerror}: {exc.filename}") from exc
    else:
        try:
            restic(repo, "cat", "config")
            return
        except PitrError:
            pass
    restic(repo, "init")


def backup_media(cfg: Config, media_root: Path) -> dict:
    """A snapshot of the photos in every repository (only new or changed files are read and sent), then the
    retention: every snapshot of the last two days, one a day for BACKUP_MEDIA_KEEP_DAYS."""
    started = _now()
    snapshots = {}
    errors = []
    if not media_root.is_dir():
        errors.append(f"the media folder {media_root} does not exist")
    for repo in cfg.repos if not errors else ():
        try:  # each repository in its own right, as for the database
            ensure_media_repo(repo)
            out = restic(repo, "backup", "--json", "--tag", MEDIA_TAG, "--host", "citygrid",
                         str(media_root.resolve()))
            summary = [json.loads(line) for line in out.splitlines() if '"summary"' in line]
            if not summary or not summary[-1].get("snapshot_id"):
                raise PitrError(f"restic backup ({repo.describe()}) made no snapshot")
            snapshots[str(repo.index)] = summary[-1]["snapshot_id"][:8]
            restic(repo, "forget", "--tag", MEDIA_TAG, "--keep-within", "2d", "--keep-within-daily",
                   f"{cfg.media_keep_days}d", "--prune")
        except PitrError as exc:
            errors.append(str(exc))
    if errors:
        record(cfg.status_dir, "media", ok=False, detail={"error": "; ".join(errors)})
        raise PitrError("; ".join(errors))
    detail = {"started": started, "repos": snapshots}
    record(cfg.status_dir, "media", ok=True, detail=detail)
    return detail


def _parse_time(value: str) -> datetime:
    # restic writes nanoseconds; Python reads microseconds.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00")
    return datetime.fromisoformat(value)


def media_snapshots(repo: Repo) -> list[dict]:
    """The photo snapshots, oldest first, each with its `time` as a datetime."""
    snaps = json.loads(restic(repo, "snapshots", "--json", "--tag", MEDIA_TAG) or "[]")
    for snap in snaps:
        snap["time"] = _parse_time(snap["time"])
    return sorted(snaps, key=lambda s: s["time"])


def restore_media(repo: Repo, *, media_root: Path, target: datetime | None,
                  referenced: set[str] | None) -> dict:
    """The photos as of `target` into `media_root` (new or empty). Photos are never changed or deleted, so the
    first snapshot taken at or after the target holds every photo the database had then; the files of later
    cases are then removed, leaving exactly those `referenced` (the restored database's photos). Without a
    snapshot after the target (a target later than the last copy), the newest one is used and the photos
    written since are reported missing."""
    snaps = media_snapshots(repo)
    if not snaps:
        raise PitrError(f"no photo snapshot in {repo.describe()}")
    later = [s for s in snaps if target is None or s["time"] >= target]
    chosen = later[0] if later and target is not None else snaps[-1]
    if media_root.exists() and any(media_root.iterdir()):
        raise PitrError(f"{media_root} is not empty: restore the photos into a new folder")
    media_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=media_root.parent) as scratch:
        # restic restores a snapshot under its absolute path: the photos land in scratch/<old MEDIA_ROOT>/.
        restic(repo, "restore", chosen["id"], "--target", scratch)
        restored = Path(scratch) / chosen["paths"][0].lstrip("/")
        for entry in restored.iterdir():
            entry.rename(media_root / entry.name)
    removed = 0
    if referenced is not None:
        for path in sorted(media_root.rglob("*"), reverse=True):
            relative = path.relative_to(media_root).as_posix()
            if path.is_file() and relative not in referenced:
                path.unlink()
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    missing = sorted(name for name in (referenced or set()) if not (media_root / name).is_file())
    return {"snapshot": chosen["short_id"], "snapshot_time": chosen["time"].isoformat(), "removed": removed,
            "missing": missing, "files": sum(1 for p in media_root.rglob("*") if p.is_file())}


# --- what the jobs record, for /readyz and check_health ---------------------------------------------------------

def _now() -> str:
    return datetime.now(UTC).isoformat()


def record(status_dir: Path, kind: str, *, ok: bool, detail: dict) -> None:
    """Keep the last success and the last failure of a job in STATUS_DIR/<kind>.json (written whole, then
    renamed into place, so a reader never sees half a file)."""
    status_dir = Path(status_dir)
    status_dir.mkdir(parents=True, exist_ok=True)
    path = status_dir / f"{kind}.json"
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        status = {}
    status["last_success" if ok else "last_failure"] = {"at": _now(), **detail}
    fd, tmp = tempfile.mkstemp(dir=status_dir, prefix=f".{kind}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(status, f, indent=2, ensure_ascii=False)
    os.chmod(tmp, 0o644)  # the web service, another OS user, reads it
    os.replace(tmp, path)


def read_status(status_dir: Path) -> dict[str, dict | None]:
    out: dict[str, dict | None] = {}
    for kind in STATUS_KINDS:
        try:
            out[kind] = json.loads((Path(status_dir) / f"{kind}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            out[kind] = None
    return out


# --- the jobs' command line ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m citygrid.pitr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", type=Path, help="BACKUP_* settings (default: the environment only)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("conf", help="print pgbackrest.conf")
    sub.add_parser("archive-settings", help="print the server's archiving settings (a conf.d file)")
    sub.add_parser("stanza-create", help="create the stanza in every repository and check the archiving")
    backup = sub.add_parser("backup", help="back the database up into every repository")
    backup.add_argument("--type", default="diff", choices=["full", "diff", "incr"])
    media = sub.add_parser("backup-media", help="copy the photos into every repository")
    media.add_argument("--media-root", type=Path, required=True)
    sub.add_parser("info", help="print the backups of every repository")
    sub.add_parser("paths", help="print the repositories on a path, one a line (the installer makes them)")
    args = parser.parse_args(argv)
    try:
        cfg = config_from_env(environment(args.env_file))
        if args.command == "conf":
            sys.stdout.write(render_pgbackrest_conf(cfg))
        elif args.command == "archive-settings":
            sys.stdout.write(render_archive_settings(cfg))
        elif args.command == "stanza-create":
            stanza_create(cfg)
            print(f"stanza {cfg.stanza}: created and checked in " + ", ".join(r.describe() for r in cfg.repos))
        elif args.command == "backup":
            detail = backup_database(cfg, args.type)
            print(f"{args.type} backup done: " + ", ".join(f"repo{r} {b['label']}" for r, b in
                                                        detail["repos"].items()))
        elif args.command == "backup-media":
            detail = backup_media(cfg, args.media_root)
            print("photos copied: " + ", ".join(f"repo{r} snapshot {s}" for r, s in detail["repos"].items()))
        elif args.command == "info":
            print(json.dumps(latest_backups(info(cfg)), indent=2))
        elif args.command == "paths":
            for repo in cfg.repos:
                if repo.type == "posix":
                    print(repo.path)
    except PitrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
