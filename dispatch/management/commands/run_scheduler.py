import logging
import os
from collections.abc import Callable

from apscheduler.schedulers.blocking import BlockingScheduler
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone

from dispatch.scheduler_lock import LockLost, SchedulerLock
from dispatch.watch import run_once

log = logging.getLogger("citygrid.scheduler")


def _watch() -> str:
    counts = run_once()
    if any(counts.values()):
        log.info("deadline watch: %(warned)d warned, %(escalated)d escalated", counts)
    return "deadline watch: {warned} warned, {escalated} escalated".format(**counts)


def _purge_audit() -> str:
    from citygrid.audit import purge_expired

    purged = purge_expired()
    log.info("audit retention: %d events purged", purged)
    return f"audit retention: {purged} events purged"


def _audit_partitions() -> str:
    from citygrid.audit import ensure_partitions

    return f"audit trail: {ensure_partitions()} monthly partitions made"


def _case_partitions() -> str:
    from incidents.partitions import ensure_partitions

    return f"cases and case log: {ensure_partitions()} monthly partitions made"


def _compact_tallies() -> str:
    from dispatch.dashboard import compact_tallies

    return f"tallies: {compact_tallies()} increments folded"


def _bulletins() -> str:
    from dispatch.bulletin import issue_due

    return f"bulletins: {issue_due()} issued"


def _guarded(job: Callable[[], str], lock: SchedulerLock) -> Callable[[], str]:
    def run() -> str:
        try:
            lock.check()  # never act beside another scheduler that took over
        except LockLost as exc:
            log.error("scheduler: %s; stopping", exc)
            os._exit(3)  # the supervisor starts it again, standing by
        close_old_connections()  # the scheduler's thread outlives connections the database may have dropped
        return job()

    run.__name__ = job.__name__
    return run


def jobs() -> list[tuple[str, Callable[[], str], dict]]:
    """Every scheduled job: its id, what it runs, and when (APScheduler trigger arguments)."""
    return [
        # One run at a time; runs missed while busy or stopped collapse into one (the watch is idempotent).
        ("deadline-watch", _watch, {"trigger": "interval", "seconds": settings.WATCH_INTERVAL_SECONDS,
                                    "next_run_time": timezone.now()}),
        ("compact-tallies", _compact_tallies, {"trigger": "interval", "minutes": 5}),
        ("audit-retention", _purge_audit, {"trigger": "cron", "hour": 3, "minute": 30}),
        # Daily, and at start: next months' partitions of the audit trail exist well before they are needed.
        ("audit-partitions", _audit_partitions, {"trigger": "cron", "hour": 3, "minute": 20,
                                                 "next_run_time": timezone.now()}),
        # Daily: from the first working day of a month on, last month's bulletins exist (issued once, kept);
        # also at start, so that a scheduler down at 06:00 that day catches up.
        ("case-partitions", _case_partitions, {"trigger": "cron", "hour": 3, "minute": 25,
                                               "next_run_time": timezone.now()}),
        ("monthly-bulletin", _bulletins, {"trigger": "cron", "hour": 6, "minute": 0, "next_run_time": timezone.now()}),
        *_app_jobs(),
    ]


def _app_jobs() -> list[tuple[str, Callable[[], str], dict]]:
    """Jobs of apps above dispatch (monitoring: readings' partitions, silent sensors), which this module may not
    import: each such AppConfig offers `scheduled_jobs()` in the same form as `jobs()`."""
    from django.apps import apps

    found = []
    for config in apps.get_app_configs():
        if hasattr(config, "scheduled_jobs"):
            found.extend(config.scheduled_jobs())
    return found


class Command(BaseCommand):
    help = "Run the scheduled jobs (the overdue watch every WATCH_INTERVAL_SECONDS, tally folding, the audit " \
           "retention, the monthly bulletins) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run every job once, in order, and exit")

    def handle(self, *args, **opts):
        if opts["once"]:
            for _name, job, _when in jobs():
                self.stdout.write(job())
            return
        lock = SchedulerLock()
        lock.wait()  # exactly one scheduler acts, however many run (dispatch/scheduler_lock.py)
        scheduler = BlockingScheduler(timezone=settings.TIME_ZONE)
        for name, job, when in jobs():
            scheduler.add_job(_guarded(job, lock), id=name, max_instances=1, coalesce=True, **when)
        self.stdout.write(f"scheduler: deadline watch every {settings.WATCH_INTERVAL_SECONDS} s")
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            scheduler.shutdown(wait=False)
