"""Exactly one scheduler acts at a time, however many are started (one per web host, say): each holds out for
a PostgreSQL session-level advisory lock on a connection of its own, and only the holder runs the jobs. The
others stand by and take over when the holder's session ends — it stopped, was killed, or its host died —
within SCHEDULER_STANDBY_SECONDS. A holder that loses its connection (a database restart) exits at once rather than
act beside a new holder; its supervisor starts it again, standing by. No lease row to expire or clean up:
the database ends a dead session's locks itself."""

import logging
import time

import psycopg2
from django.conf import settings

log = logging.getLogger("citygrid.scheduler")

# pg_advisory_lock's key space is shared by every user of the database: a fixed, recognisable number.
LOCK_KEY = 0x43_47_53_43  # "CGSC"


class LockLost(RuntimeError):
    pass


class SchedulerLock:
    def __init__(self) -> None:
        self._conn = None

    def _connect(self):
        from citygrid.dbroles import RUNTIME, connect

        conn = connect(RUNTIME, autocommit=True)
        with conn.cursor() as cur:  # the database drops the lock with a session that stops answering
            cur.execute("SET idle_session_timeout = 0; SET tcp_keepalives_idle = 10")
        return conn

    def try_acquire(self) -> bool:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        with self._conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            return bool(cur.fetchone()[0])

    def wait(self) -> None:
        """Block until this process holds the lock."""
        announced = False
        while True:
            try:
                if self.try_acquire():
                    log.info("scheduler: active (holds the lock)")
                    return
            except psycopg2.OperationalError as exc:
                log.warning("scheduler: database unavailable (%s); retrying", exc)
                self._conn = None
            if not announced:
                log.info("scheduler: another scheduler is active; standing by")
                announced = True
            time.sleep(settings.SCHEDULER_STANDBY_SECONDS)

    def check(self) -> None:
        """LockLost unless this process still holds the lock (asked before every job run)."""
        try:
            with self._conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                            "AND objid = %s AND granted", [LOCK_KEY & 0xFFFFFFFF])
                held = cur.fetchone()[0] > 0
        except (psycopg2.Error, AttributeError) as exc:
            raise LockLost(f"the lock's connection is gone: {exc}") from exc
        if not held:
            raise LockLost("the lock is no longer held")
