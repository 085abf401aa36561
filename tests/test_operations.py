"""Operations (README): the backups' state in /readyz, the paging check, request ids, the client's address
behind the proxy, the backup configuration, and the installer staged twice (idempotent)."""

import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from citygrid import pitr, requestid
from citygrid.management.commands.check_health import problems
from citygrid.models import AuditEvent

ROOT = Path(__file__).resolve().parent.parent
PASS = "a-passphrase-of-thirty-two-chars"


@pytest.fixture
def status_dir(settings, tmp_path):
    settings.BACKUP_STATUS_DIR = tmp_path / "status"
    return settings.BACKUP_STATUS_DIR


def _age(status_dir: Path, kind: str, outcome: str, **delta) -> None:
    """Move a recorded outcome into the past."""
    import json

    path = status_dir / f"{kind}.json"
    data = json.loads(path.read_text())
    data[outcome]["at"] = (timezone.now() - timedelta(**delta)).isoformat()
    path.write_text(json.dumps(data))


def test_readyz_gives_the_last_backups_age(client, db, status_dir, settings):
    body = client.get("/readyz").json()["backup"]
    assert body["status"] == "none" and body["age_seconds"] is None
    assert body["archive"] == {"state": "off"}  # the machine's own cluster does not archive
    pitr.record(status_dir, "database", ok=True, detail={"type": "diff", "repos": {"1": {}, "2": {}}})
    pitr.record(status_dir, "media", ok=True, detail={"repos": {"1": "a", "2": "b"}})
    body = client.get("/readyz").json()["backup"]
    assert body["status"] == "ok" and 0 <= body["age_seconds"] < 60
    assert body["database"]["state"] == body["media"]["state"] == "ok"
    _age(status_dir, "database", "last_success", hours=settings.BACKUP_MAX_AGE_HOURS + 1)
    body = client.get("/readyz").json()["backup"]
    assert body["status"] == "stale" and body["age_seconds"] > settings.BACKUP_MAX_AGE_HOURS * 3600
    # A failure after the last success: failing, with the job's own words.
    pitr.record(status_dir, "media", ok=False, detail={"error": "restic backup (repo2) failed: no space"})
    body = client.get("/readyz").json()["backup"]
    assert body["status"] == "failing" and body["media"]["error"].endswith("no space")
    pitr.record(status_dir, "media", ok=True, detail={})
    assert client.get("/readyz").json()["backup"]["media"]["state"] == "ok"


def test_the_paging_check_says_what_needs_a_person():
    healthy = {"database": "ok", "redis": "ok", "scheduler": "ok", "backup": {
        "database": {"state": "ok"}, "media": {"state": "ok"}, "archive": {"state": "ok"}}}
    assert problems(200, healthy) == []
    assert problems(None, None) == ["web: /readyz does not answer"]
    assert problems(503, {"status": "unavailable", "database": "down"})[0].startswith("web: not ready (HTTP 503")
    stopped = {**healthy, "scheduler": "stale", "scheduler_last_run": "2026-11-26T01:00:00+00:00"}
    assert problems(200, stopped)[0].startswith("scheduler: stopped (last run 2026-11-26T01:00:00")
    old = {**healthy, "backup": {**healthy["backup"], "database": {"state": "stale", "age_seconds": 100_000,
                                                                  "last_success": "x"}}}
    assert problems(200, old) == ["backup: the last database backup is 27.8 h old (x)"]
    failing = {**healthy, "backup": {**healthy["backup"], "archive": {"state": "failing", "wal": "0000000100",
                                                                     "last_failure": "t"}}}
    assert "WAL archiving fails" in problems(200, failing)[0]
    off = {**healthy, "backup": {**healthy["backup"], "archive": {"state": "off"}}}
    assert problems(200, off) == ["backup: WAL archiving is off (archive_mode): no point-in-time recovery"]
    assert problems(200, off, require_archiving=False) == []


@pytest.mark.django_db(transaction=True)
def test_check_health_asks_readyz_over_http_and_exits_as_monitoring_plugins_do(live_server, status_dir, capsys):
    from dispatch.models import Heartbeat

    url = f"{live_server.url}/readyz"
    with pytest.raises(SystemExit) as exited:
        call_command("check_health", url=url, host="localhost")
    out = capsys.readouterr().out
    assert exited.value.code == 2
    assert "CRITICAL scheduler: stopped" in out and "CRITICAL backup: no database backup has ever succeeded" in out
    Heartbeat.objects.create(name="scheduler", beat_at=timezone.now())
    pitr.record(status_dir, "database", ok=True, detail={})
    pitr.record(status_dir, "media", ok=True, detail={})
    with pytest.raises(SystemExit) as exited:
        call_command("check_health", url=url, host="localhost", no_archiving=True)
    assert exited.value.code == 0, capsys.readouterr().out
    assert capsys.readouterr().out.startswith("OK ")
    with pytest.raises(SystemExit) as exited:  # nothing listening: the web service is down
        call_command("check_health", url="http://127.0.0.1:9/readyz", timeout=2)
    assert exited.value.code == 2 and "web: /readyz does not answer" in capsys.readouterr().out


def test_request_ids_are_kept_or_made(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="5f2b0c1e9a7d4c3b8e6f1a2b3c4d5e6f")
    assert response["X-Request-ID"] == "5f2b0c1e9a7d4c3b8e6f1a2b3c4d5e6f"
    for hostile in ("a b", "x" * 101, "ok\nINFO forged line", ""):
        made = client.get("/healthz", HTTP_X_REQUEST_ID=hostile)["X-Request-ID"]
        assert made != hostile and len(made) == 32
    assert requestid.current() == "-"  # outside a request


def test_log_lines_carry_the_request_id():
    import logging

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    token = requestid._current.set("abc")
    try:
        requestid.RequestIdFilter().filter(record)
    finally:
        requestid._current.reset(token)
    assert record.request_id == "abc"


@pytest.mark.django_db
def test_the_clients_address_comes_from_a_trusted_proxy_only(client, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1", "::1"]
    for peer, real, recorded in (("127.0.0.1", "203.0.113.9", "203.0.113.9"),  # from nginx
                                 ("198.51.100.7", "203.0.113.9", "198.51.100.7"),  # anyone else: ignored
                                 ("127.0.0.1", "not-an-address", "127.0.0.1")):
        client.post("/accounts/login/", {"username": "nobody", "password": "wrong"}, REMOTE_ADDR=peer,
                    HTTP_X_REAL_IP=real)
        assert AuditEvent.objects.order_by("-id").first().ip == recorded


def test_backup_configuration_is_checked_and_rendered():
    with pytest.raises(pitr.PitrError, match="no backup repository"):
        pitr.config_from_env({})
    with pytest.raises(pitr.PitrError, match="at least 20 characters"):
        pitr.config_from_env({"BACKUP_REPO1_PATH": "/r1", "BACKUP_REPO1_CIPHER_PASS": "short"})
    with pytest.raises(pitr.PitrError, match="S3_BUCKET"):
        pitr.config_from_env({"BACKUP_REPO1_PATH": "/r1", "BACKUP_REPO1_CIPHER_PASS": PASS,
                              "BACKUP_REPO2_TYPE": "s3", "BACKUP_REPO2_PATH": "/citygrid",
                              "BACKUP_REPO2_CIPHER_PASS": PASS})
    cfg = pitr.config_from_env({
        "BACKUP_REPO1_PATH": "/var/lib/pgbackrest", "BACKUP_REPO1_CIPHER_PASS": PASS,
        "BACKUP_REPO2_TYPE": "s3", "BACKUP_REPO2_PATH": "/citygrid", "BACKUP_REPO2_CIPHER_PASS": PASS + "2",
        "BACKUP_REPO2_S3_BUCKET": "xt-backup", "BACKUP_REPO2_S3_ENDPOINT": "oss-cn-hangzhou.example.com",
        "BACKUP_REPO2_S3_KEY": "k", "BACKUP_REPO2_S3_KEY_SECRET": "s", "BACKUP_RETENTION_FULL": "8"})
    conf = pitr.render_pgbackrest_conf(cfg)
    for line in ("repo1-path=/var/lib/pgbackrest", "repo1-cipher-type=aes-256-cbc", f"repo1-cipher-pass={PASS}",
                 "repo2-type=s3", "repo2-s3-bucket=xt-backup", f"repo2-cipher-pass={PASS}2",
                 "repo1-retention-full=8", "repo2-retention-full=8", "[citygrid]"):
        assert line in conf.splitlines(), line
    assert cfg.repo(2).media_location() == "s3:https://oss-cn-hangzhou.example.com/xt-backup/citygrid/media"
    assert cfg.repo(1).media_location() == "/var/lib/pgbackrest/media"
    assert pitr.archive_settings(cfg)["archive_command"] == (
        "pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=citygrid archive-push %p")


def _stage(target: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BACKUP_"))}
    done = subprocess.run(["sh", "deploy/install.sh", "--stage", str(target)], cwd=ROOT, env={
        **env, "SERVER_NAME": "citygrid.example.gov.cn"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_the_installer_staged_twice_writes_once_and_keeps_its_secrets(tmp_path):
    first = _stage(tmp_path)
    etc = tmp_path / "etc"
    files = {p: p.read_bytes() for p in etc.rglob("*") if p.is_file()}
    assert "wrote" in first and "staged into" in first
    second = _stage(tmp_path)
    assert "wrote" not in second and "made a self-signed" not in second  # nothing to change the second time
    assert {p: p.read_bytes() for p in etc.rglob("*") if p.is_file()} == files  # secrets kept, not made anew
    backup_env = etc / "citygrid" / "backup.env"
    assert stat.S_IMODE(backup_env.stat().st_mode) == 0o600
    settings = pitr.read_env_file(backup_env)
    conf = (etc / "pgbackrest" / "pgbackrest.conf").read_text()
    assert f"repo1-cipher-pass={settings['BACKUP_REPO1_CIPHER_PASS']}" in conf
    assert f"repo2-cipher-pass={settings['BACKUP_REPO2_CIPHER_PASS']}" in conf
    assert settings["BACKUP_REPO1_CIPHER_PASS"] != settings["BACKUP_REPO2_CIPHER_PASS"]
    app = pitr.read_env_file(etc / "citygrid" / "citygrid.env")
    assert app["DEBUG"] == "0" and len(app["SECRET_KEY"]) > 50 and app["ALLOWED_HOSTS"] == "citygrid.example.gov.cn"
    assert "BACKUP_REPO1_CIPHER_PASS" not in app  # the web service never holds a passphrase
    units = {p.name for p in (etc / "systemd" / "system").iterdir()}
    assert {"citygrid-web.service", "citygrid-scheduler.service", "citygrid-backup-db-diff.timer"} <= units
    assert (etc / "nginx" / "sites-enabled" / "citygrid").readlink() == Path("/etc/nginx/sites-available/citygrid")
    archive = (etc / "postgresql").rglob("citygrid-pitr.conf").__next__().read_text()
    assert "archive_mode = 'on'" in archive and "archive_timeout = 60" in archive


def test_restore_targets_are_times_in_the_citys_zone_or_latest(settings):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from django.core.management.base import CommandError

    from citygrid.management.commands.restore_to_time import parse_target

    assert parse_target("latest") is None
    assert parse_target("2026-11-26 14:35:00") == datetime(2026, 11, 26, 14, 35, tzinfo=ZoneInfo(settings.TIME_ZONE))
    assert parse_target("2026-11-26T06:35:00+00:00").utcoffset().total_seconds() == 0
    with pytest.raises(CommandError, match="ISO time"):
        parse_target("yesterday afternoon")


def test_the_backup_jobs_say_what_is_missing_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKUP_")}
    done = subprocess.run([sys.executable, "-m", "citygrid.pitr", "backup", "--type", "diff"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.startswith("error: no backup repository configured")
    assert "Traceback" not in done.stderr


def test_one_repository_failing_costs_the_other_nothing(tmp_path):
    """The off-site store unreachable (here: its path is a file) must not cost the local copy, and the job says
    which repository failed, records it for /readyz and exits non-zero (so it pages)."""
    media = tmp_path / "media" / "photos" / "2026" / "11"
    media.mkdir(parents=True)
    (media / "a.jpg").write_bytes(b"photo")
    (tmp_path / "offsite").write_text("not a folder")
    cfg = pitr.config_from_env({"BACKUP_REPO1_PATH": str(tmp_path / "local"), "BACKUP_REPO1_CIPHER_PASS": PASS,
                                "BACKUP_REPO2_PATH": str(tmp_path / "offsite"), "BACKUP_REPO2_CIPHER_PASS": PASS,
                                "BACKUP_STATUS_DIR": str(tmp_path / "status")})
    with pytest.raises(pitr.PitrError, match="repo2") as failed:
        pitr.backup_media(cfg, tmp_path / "media")
    assert "repo1" not in str(failed.value)
    [snapshot] = pitr.media_snapshots(cfg.repo(1))  # the local copy was made all the same
    assert snapshot["paths"] == [str((tmp_path / "media").resolve())]
    status = pitr.read_status(tmp_path / "status")["media"]
    assert "last_success" not in status and "repo2" in status["last_failure"]["error"]
