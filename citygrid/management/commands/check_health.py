"""The paging check (README, Operations): asks the web service's /readyz as the monitoring would and exits
non-zero — one line per problem — when anything needs a person: the web service or its database down, the
scheduler stopped (no overdue watch), the last database backup or photo copy too old or failed, the WAL
archiving failing or off. Exit codes as monitoring plugins use them (Nagios, Icinga, Zabbix's external
checks): 0 all well, 2 critical. The systemd timer citygrid-health.timer runs it every five minutes; its
failure starts citygrid-page@, which sends the lines to PAGE_COMMAND."""

import json
import sys
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand

OK, CRITICAL = 0, 2


def problems(status: int | None, body: dict | None, *, require_archiving: bool = True) -> list[str]:
    """What in a /readyz answer needs a person, one line each (empty: nothing)."""
    if status is None or body is None:
        return ["web: /readyz does not answer"]
    found = []
    if status != 200 or body.get("database") != "ok":
        found.append(f"web: not ready (HTTP {status}, database {body.get('database', '?')})")
        return found
    if body.get("scheduler") != "ok":
        found.append(f"scheduler: stopped (last run {body.get('scheduler_last_run') or 'never'}): no overdue "
                     "watch, no tally folding")
    backup = body.get("backup") or {}
    for kind, what in (("database", "database backup"), ("media", "photo copy")):
        job = backup.get(kind) or {}
        state = job.get("state", "none")
        if state == "none":
            found.append(f"backup: no {what} has ever succeeded")
        elif state == "stale":
            found.append(f"backup: the last {what} is {job.get('age_seconds', 0) / 3600:.1f} h old "
                         f"({job.get('last_success')})")
        elif state == "failing":
            found.append(f"backup: the last {what} failed at {job.get('last_failure')}: {job.get('error', '')}")
    archive = backup.get("archive") or {}
    if archive.get("state") == "failing":
        found.append(f"backup: WAL archiving fails (segment {archive.get('wal')} at {archive.get('last_failure')}"
                     "): changes since cannot be restored")
    elif archive.get("state") == "off" and require_archiving:
        found.append("backup: WAL archiving is off (archive_mode): no point-in-time recovery")
    if body.get("redis") == "down":
        found.append("redis: down (rate limits are not counted)")
    return found


class Command(BaseCommand):
    help = "Exit 2 with one line per problem when the web service, the scheduler or the backups need a person."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8001/readyz", help="the web service's /readyz")
        parser.add_argument("--host", default=None, help="Host header (default: the first of ALLOWED_HOSTS)")
        parser.add_argument("--timeout", type=float, default=10)
        parser.add_argument("--no-archiving", action="store_true",
                            help="do not require WAL archiving (a database served from elsewhere)")

    def handle(self, *args, **opts):
        host = opts["host"] or (settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS else None)
        request = urllib.request.Request(opts["url"], headers={"Host": host} if host else {})
        status, body = None, None
        try:
            with urllib.request.urlopen(request, timeout=opts["timeout"]) as response:
                status, body = response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                body = json.loads(exc.read())
            except ValueError:
                body = {}
        except (OSError, ValueError):
            pass
        found = problems(status, body, require_archiving=not opts["no_archiving"])
        for line in found:
            self.stdout.write(f"CRITICAL {line}")
        if not found:
            backup = (body or {}).get("backup") or {}
            self.stdout.write(f"OK web, scheduler and backups (last database backup {backup.get('last_success')})")
        sys.exit(CRITICAL if found else OK)
