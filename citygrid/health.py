from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """The process can serve: its database answers. Also says whether Redis answers and whether the scheduler
    has run lately (it runs beside the web workers; a stale scheduler means no overdue watch, not that pages
    cannot serve)."""
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT beat_at FROM dispatch_heartbeat WHERE name = 'scheduler'")
            row = cur.fetchone()
    except Exception:  # any failure to reach the database means not ready
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    fresh = row is not None and (timezone.now() - row[0]).total_seconds() < 3 * settings.WATCH_INTERVAL_SECONDS
    return JsonResponse({"status": "ok", "database": "ok", "redis": redis_state(),
                         "scheduler": "ok" if fresh else "stale",
                         "scheduler_last_run": row[0].isoformat() if row else None})


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
