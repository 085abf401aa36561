"""The restore drill (README, Operations): on a PostgreSQL cluster of its own — never the machine's main cluster,
which other suites use —, archiving every WAL segment through pgBackRest into two encrypted repositories,
the database made by the product's own commands (create_database, migrate); a full backup as the weekly
timer takes it; cases written, the time noted, more cases written; then `manage.py restore_to_time` from the
second repository (the off-site copy) into a new cluster finds exactly the first cases — no more, no less —
with their log entries, audit events and photos, and the case log and the audit trail still refuse UPDATE
and DELETE.

Every step runs the command the deployment runs: the backup units' own command lines (rendered by
render_deploy, run with nothing but their environment file), `manage.py restore_to_time` as the operator
would."""

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest
from django.core.management import call_command
from django.test import override_settings

from citygrid import pitr
from citygrid.pgcluster import Cluster, chown_to, default_os_user
from tests import units
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
DB = "citygrid"
FIRST, SECOND = 4, 3  # cases before and after the noted time
STEP_TIMEOUT = 300


def _run(args: list[str], env: dict, what: str) -> str:
    started = time.monotonic()
    try:
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what}: no answer in {STEP_TIMEOUT} s\n{exc.stdout}\n{exc.stderr}")
    assert done.returncode == 0, f"{what} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    print(f"drill: {what} {time.monotonic() - started:.1f} s")
    return done.stdout


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def drill_dir():
    # In /tmp, not pytest's folder: the cluster's OS user (postgres, when root runs the suite) must reach it.
    path = Path(tempfile.mkdtemp(prefix="citygrid-drill-", dir="/tmp"))
    clusters: list[Cluster] = []
    yield path, clusters
    for cluster in clusters:
        try:
            cluster.stop()
        except Exception as exc:  # the drill's own failure matters more than the clean-up's
            print(f"drill: could not stop {cluster.data_dir}: {exc}")
    shutil.rmtree(path, ignore_errors=True)


def test_restore_drill_finds_exactly_the_cases_before_the_noted_time(drill_dir):
    path, clusters = drill_dir
    os_user = default_os_user()
    for name in ("repo1", "repo2", "log", "lock", "spool", "sock"):
        (path / name).mkdir()
    chown_to(path, os_user)
    backup_env = {
        "BACKUP_STANZA": "drill", "BACKUP_CONFIG": str(path / "pgbackrest.conf"), "BACKUP_OS_USER": os_user,
        "BACKUP_PG_PATH": str(path / "data"), "BACKUP_PG_SOCKET": str(path / "sock"),
        "BACKUP_PG_PORT": str(free_port()),
        "BACKUP_REPO1_PATH": str(path / "repo1"), "BACKUP_REPO1_CIPHER_PASS": "drill-local-passphrase-0123456789",
        "BACKUP_REPO2_PATH": str(path / "repo2"), "BACKUP_REPO2_CIPHER_PASS": "drill-offsite-passphrase-987654321",
        "BACKUP_LOG_PATH": str(path / "log"), "BACKUP_LOCK_PATH": str(path / "lock"),
        "BACKUP_SPOOL_PATH": str(path / "spool"), "BACKUP_STATUS_DIR": str(path / "status"),
    }
    cfg = pitr.config_from_env(backup_env)
    # The backup units of this installation, rendered as make install renders them: the drill runs their
    # commands, with nothing but their environment file.
    (path / "backup.env").write_text("".join(f"{k}={v}\n" for k, v in backup_env.items()), encoding="utf-8")
    with override_settings(MEDIA_ROOT=path / "media"):
        call_command("render_deploy", out=path / "rendered", prefix=ROOT, backup_env_file=path / "backup.env",
                     stdout=io.StringIO())
    unit = {name: (path / "rendered" / "systemd" / name).read_text()
            for name in ("citygrid-backup-db@.service", "citygrid-backup-media.service")}
    full_backup = units.commands(unit["citygrid-backup-db@.service"], "ExecStart", instance="full")[0]
    copy_photos = units.commands(unit["citygrid-backup-media.service"], "ExecStart")[0]
    assert full_backup[-4:] == ["citygrid.pitr", "backup", "--type", "full"] and copy_photos[-1] == str(path / "media")
    # CacheDirectory= would make restic's cache: here, a folder of the drill's.
    media_env = units.service_env(unit["citygrid-backup-media.service"], RESTIC_CACHE_DIR=str(path / "cache"))
    (path / "pgbackrest.conf").write_text(pitr.render_pgbackrest_conf(cfg), encoding="utf-8")
    os.chmod(path / "pgbackrest.conf", 0o600)
    chown_to(path / "pgbackrest.conf", os_user)

    live = Cluster(data_dir=path / "data", port=cfg.pg_port, socket_dir=path / "sock", os_user=os_user)
    clusters.append(live)
    started = time.monotonic()
    live.initdb()
    live.listen_here()
    live.configure(pitr.archive_settings(cfg), note="CityGrid: archiving, as deploy/install.sh configures it")
    live.start()
    print(f"drill: cluster made and started {time.monotonic() - started:.1f} s")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BACKUP_", "PG"))}
    env.update(backup_env, DATABASE_URL=live.url(DB, "citygrid_app"), PGUSER=os_user, REDIS_URL="off",
               MEDIA_ROOT=str(path / "media"), LOG_LEVEL="ERROR")
    manage = [sys.executable, "manage.py"]
    _run([*manage, "create_database"], env, "create_database")
    _run([*manage, "migrate", "--noinput", "-v0"], env, "migrate")
    job = [sys.executable, "-m", "citygrid.pitr"]
    _run([*job, "stanza-create"], env, "stanza-create")
    _run(full_backup, units.service_env(unit["citygrid-backup-db@.service"]),
         "full backup into both repositories (the unit's command)")

    first = json.loads(_run([sys.executable, "tests/drill_cases.py", str(FIRST), "first"], env, "first cases"))
    _run(copy_photos, media_env, "photos copied (the unit's command)")
    conn = live.connect(DB, user=os_user)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT clock_timestamp()")
        noted = cur.fetchone()[0]
        cur.execute("SELECT count(*), max(id) FROM citygrid_auditevent")
        audit_then = cur.fetchone()
        cur.execute("SELECT count(*) FROM incidents_caselog")
        log_then = cur.fetchone()[0]
        cur.execute("SELECT image, thumbnail FROM incidents_photo")
        files_then = {name for row in cur.fetchall() for name in row}
    second = json.loads(_run([sys.executable, "tests/drill_cases.py", str(SECOND), "second"], env, "more cases"))
    _run(copy_photos, media_env, "photos copied again")
    with conn.cursor() as cur:
        # The segment holding the last commits goes to the archive now rather than at archive_timeout.
        cur.execute("SELECT pg_walfile_name(pg_switch_wal())")
        segment = cur.fetchone()[0]
        deadline = time.monotonic() + 60
        while True:
            cur.execute("SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver")
            archived, failed = cur.fetchone()
            if archived is not None and archived >= segment:
                break
            assert time.monotonic() < deadline, f"WAL {segment} not archived (failed: {failed})"
            time.sleep(0.2)
    conn.close()
    assert len(set(first)) == FIRST and len(set(second)) == SECOND and not set(first) & set(second)

    info = json.loads(_run([*job, "info"], env, "info"))
    assert set(info) == {"1", "2"} and {b["type"] for b in info.values()} == {"full"}, info
    status = pitr.read_status(path / "status")
    assert status["database"]["last_success"]["repos"].keys() == {"1", "2"}
    assert status["media"]["last_success"]["repos"].keys() == {"1", "2"}

    restored_port = free_port()
    out = _run([*manage, "restore_to_time", "--target", noted.isoformat(), "--data-dir", str(path / "restored"),
                "--port", str(restored_port), "--socket-dir", str(path / "sock"), "--repo", "2",
                "--media-root", str(path / "restored-media"), "--database", DB], env, "restore_to_time")
    restored = Cluster(data_dir=path / "restored", port=restored_port, socket_dir=path / "sock", os_user=os_user)
    clusters.append(restored)
    print(out)
    assert f"{FIRST} cases" in out and "append-only triggers: incidents_caselog on, citygrid_auditevent on" in out

    rconn = restored.connect(DB, user="citygrid_app")
    with rconn, rconn.cursor() as cur:
        cur.execute("SELECT number FROM incidents_case")
        assert sorted(n for (n,) in cur.fetchall()) == sorted(first)  # no more, no less
        cur.execute("SELECT count(*) FROM incidents_caselog")
        assert cur.fetchone()[0] == log_then
        cur.execute("SELECT count(*), max(id) FROM citygrid_auditevent")
        assert cur.fetchone() == audit_then
        cur.execute("SELECT image, thumbnail FROM incidents_photo")
        assert {name for row in cur.fetchall() for name in row} == files_then
        cur.execute("INSERT INTO citygrid_auditevent (at, username, action, target, result, detail) "
                    "VALUES (now(), 'drill', 'drill', '', 'ok', '')")  # the restored cluster takes writes
    rconn.close()
    # The append-only tables refuse UPDATE and DELETE even to their owner: the triggers came back too.
    for statement in ("UPDATE incidents_caselog SET note = 'x'", "DELETE FROM incidents_caselog",
                      "UPDATE citygrid_auditevent SET result = 'x'", "DELETE FROM citygrid_auditevent"):
        owner = restored.connect(DB, user="citygrid_owner")
        with owner, owner.cursor() as cur, pytest.raises(psycopg2.Error, match="append-only"):
            cur.execute(statement)
        owner.close()
    # The photos: exactly the first cases' files, as they were written.
    media = path / "restored-media"
    assert {p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()} == files_then
    for name in files_then:
        assert _sha256(media / name) == _sha256(path / "media" / name), name
