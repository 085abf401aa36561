import logging

from apscheduler.schedulers.blocking import BlockingScheduler
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone

from dispatch.watch import run_once

log = logging.getLogger("citygrid.scheduler")


def _watch() -> None:
    close_old_connections()  # the scheduler's thread outlives connections the database may have dropped
    counts = run_once()
    if any(counts.values()):
        log.info("deadline watch: %(warned)d warned, %(escalated)d escalated", counts)


def _purge_audit() -> None:
    from citygrid.audit import purge_expired

    close_old_connections()
    log.info("audit retention: %d events purged", purge_expired())


def _compact_tallies() -> None:
    from dispatch.dashboard import compact_tallies

    close_old_connections()
    compact_tallies()


class Command(BaseCommand):
    help = "Run the scheduled jobs (the overdue watch every WATCH_INTERVAL_SECONDS) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run every job once and exit")

    def handle(self, *args, **opts):
        if opts["once"]:
            self.stdout.write(str(run_once()))
            return
        scheduler = BlockingScheduler(timezone=settings.TIME_ZONE)
        # One run at a time; runs missed while busy or stopped collapse into one (the watch is idempotent).
        scheduler.add_job(_watch, "interval", seconds=settings.WATCH_INTERVAL_SECONDS, id="deadline-watch",
                          max_instances=1, coalesce=True, next_run_time=timezone.now())
        scheduler.add_job(_compact_tallies, "interval", minutes=5, id="compact-tallies", max_instances=1,
                          coalesce=True)
        scheduler.add_job(_purge_audit, "cron", hour=3, minute=30, id="audit-retention", max_instances=1,
                          coalesce=True)
        self.stdout.write(f"scheduler: deadline watch every {settings.WATCH_INTERVAL_SECONDS} s")
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            scheduler.shutdown(wait=False)
