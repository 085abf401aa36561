from datetime import datetime

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from citygrid import pitr

# How bad each state of a backup is, for the overall one: the worst wins.
BACKUP_SEVERITY = {"ok": 0, "off": 0, "stale": 1, "none": 2, "failing": 3}


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """The process can serve: its database answers. Also says whether Redis answers, whether the scheduler
    has run lately (it runs beside the web workers; a stale scheduler means no overdue watch, not that pages
    cannot serve), and how old the last backups are (a stale backup does not stop serving either: the paging
    check, `manage.py check_health`, reads this). Cheap enough to poll: two small queries and two small files."""
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT beat_at FROM dispatch_heartbeat WHERE name = 'scheduler'")
            row = cur.fetchone()
            cur.execute("SELECT current_setting('archive_mode'), last_archived_time, last_failed_time, "
                        "last_failed_wal FROM pg_stat_archiver")
            archiver = cur.fetchone()
    except Exception:  # any failure to reach the database means not ready
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    fresh = row is not None and (timezone.now() - row[0]).total_seconds() < 3 * settings.WATCH_INTERVAL_SECONDS
    return JsonResponse({"status": "ok", "database": "ok", "redis": redis_state(),
                         "scheduler": "ok" if fresh else "stale",
                         "scheduler_last_run": row[0].isoformat() if row else None,
                         "backup": backup_state(archiver)})


def _job_state(status: dict | None, max_age_s: float, now: datetime) -> dict:
    success = (status or {}).get("last_success")
    failure = (status or {}).get("last_failure")
    out: dict = {"state": "none", "last_success": None, "age_seconds": None}
    if success:
        age = (now - datetime.fromisoformat(success["at"])).total_seconds()
        out.update(state="ok" if age <= max_age_s else "stale", last_success=success["at"],
                   age_seconds=int(age))
    if failure and (not success or failure["at"] > success["at"]):
        out.update(state="failing", last_failure=failure["at"], error=failure.get("error", ""))
    return out


def backup_state(archiver: tuple | None) -> dict:
    """The database backups (pgBackRest), the photo copies (restic), both as their jobs recorded them in
    BACKUP_STATUS_DIR, and the WAL archiving as the server counts it (pg_stat_archiver: a failing
    archive_command is data that cannot be restored). `age_seconds` is the last database backup's age."""
    now = timezone.now()
    status = pitr.read_status(settings.BACKUP_STATUS_DIR)
    database = _job_state(status["database"], settings.BACKUP_MAX_AGE_HOURS * 3600, now)
    media = _job_state(status["media"], settings.MEDIA_BACKUP_MAX_AGE_MINUTES * 60, now)
    archive: dict = {"state": "off"}
    if archiver is not None and archiver[0] != "off":
        mode, archived_at, failed_at, failed_wal = archiver
        failing = failed_at is not None and (archived_at is None or failed_at > archived_at)
        archive = {"state": "failing" if failing else "ok",
                   "last_archived": archived_at.isoformat() if archived_at else None}
        if failing:
            archive.update(last_failure=failed_at.isoformat(), wal=failed_wal)
    worst = max((database["state"], media["state"], archive["state"]), key=BACKUP_SEVERITY.__getitem__)
    return {"status": worst, "age_seconds": database["age_seconds"], "last_success": database["last_success"],
            "database": database, "media": media, "archive": archive}


def redis_state() -> str:
    """'ok', 'down' or 'off'. Redis down degrades (rate limits fail open), it does not stop serving: the
    process stays ready and says so here for the monitoring."""
    location = settings.CACHES["default"].get("LOCATION", "")  # the Redis the rate limits really count in
    if not str(location).startswith(("redis://", "rediss://", "unix://")):
        return "off"
    import redis

    try:
        redis.Redis.from_url(location, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
    except (redis.exceptions.RedisError, OSError):
        return "down"
    return "ok"
