"""Old months of cases into the schema `archive` (migration 0017: incidents_archive_months), whole case families
at a time: the cases' and the log's monthly partitions detached, everything that belongs to those cases moved; their
keys after, in batches (migration 0020). Run by the owner role (the runtime role can neither do it nor read the
archive)."""

import re
import time
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from psycopg2 import sql

from citygrid.audit import record
from citygrid.dbroles import apply_archive_grants, as_owner

MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class ArchiveError(ValueError):
    """The months cannot be archived (the database's reason, one line); nothing was moved."""


@dataclass
class Archived:
    through: date
    moved: list[tuple[str, int]]  # (table, rows) in the order they moved; "(emptied)" for references cleared
    unchecked: str = ""  # why the keys could not all leave, or their foreign key be checked, after the move
    move_s: float = 0.0  # the move's transaction (reports wait for it: it holds the cases, their keys and log)
    keys_s: float = 0.0  # the keys' batches and check after it (reports go on)

    @property
    def cases(self) -> int:
        return sum(n for table, n in self.moved if re.fullmatch(r"incidents_case_p\d{6}", table))


def parse_month(text: str) -> date:
    match = MONTH.match(text or "")
    if not match or not 1 <= int(match[2]) <= 12:
        raise ArchiveError(f"not a month: {text!r} (YYYY-MM)")
    return date(int(match[1]), int(match[2]), 1)


# What must be over elsewhere before its cases may leave, registered by the apps that hold it (they sit above
# incidents): a name and a statement giving (how many, an example case number) for the cases reported before
# %(upto)s. An alarm episode still running, a crew not cleared, an emergency still being handled would lose their
# case under them.
GUARDS: dict[str, str] = {}


def register_archive_guard(what: str, statement: str) -> None:
    GUARDS[what] = statement


# A case closed lately may still be called back (回访) or reopened as rework: it stays live this long.
RECENT_DAYS = 30
register_archive_guard(f"case(s) finished in the last {RECENT_DAYS} days", f"""
    SELECT count(*), min(number) FROM incidents_case
    WHERE created_at < %(upto)s AND status_since > now() - interval '{RECENT_DAYS} days'""")


# Keys a transaction: each deleted key is checked against the eleven foreign keys pointing at it, two of them
# through every month's partition (about 0.13 ms a key at ten million cases): a few seconds' row locks a batch.
KEY_BATCH = 20_000


def archive_through(through: date) -> Archived:
    """Archive every month of cases up to and including `through`'s, in one transaction; ArchiveError if it may
    not (a case not finished, something still open on one, a later case or row pointing in, a month not over) —
    then nothing moved. Their keys follow in batches (`finish_keys`)."""
    upto = date(through.year + through.month // 12, through.month % 12 + 1, 1)
    started = time.perf_counter()
    with as_owner():
        try:
            with transaction.atomic(), connection.cursor() as cur:
                # The guards cut the months where the archive's function does: in the zone it was made with
                # (migration 0017), which TIME_ZONE, changed since, would not be.
                cur.execute("SELECT set_config('TimeZone', %s, true)", [_months_zone(cur)])
                for what, statement in GUARDS.items():
                    cur.execute(statement, {"upto": upto})
                    count, example = cur.fetchone()
                    if count:
                        raise ArchiveError(f"{count} {what} (e.g. case {example}): close it first")
                cur.execute("SELECT tbl, moved FROM incidents_archive_months(%s)", [through])
                moved = [(t, int(n)) for t, n in cur.fetchall()]
                apply_archive_grants(cur)
        except DatabaseError as exc:
            raise ArchiveError(str(exc).strip().splitlines()[0]) from exc
    result = Archived(through, moved, move_s=time.perf_counter() - started)
    # The months have left whatever happens from here: a failure is said, and `finish_keys()` (archive_cases
    # --finish, or the next archive) takes it up again.
    started = time.perf_counter()
    moved_keys, result.unchecked = finish_keys()
    result.moved.append(("incidents_casekey", moved_keys))
    result.keys_s = time.perf_counter() - started
    record("cases_archive", user=None, username="archive_cases", target=f"month: {through:%Y-%m}",
           detail=f"{result.cases} cases; " + ", ".join(f"{t} {n}" for t, n in result.moved if n)
           + (f"; keys not all moved or checked: {result.unchecked}" if result.unchecked else ""))
    return result


def finish_keys(batch: int = KEY_BATCH) -> tuple[int, str]:
    """The archived cases' keys out of the live table, `batch` a transaction (row locks only: reports go on), then
    their foreign key to the cases checked; (keys moved, '' or why it stopped — one line, the rest left for the next
    call). Out of the move's transaction because each key's delete is checked against every month's partition of
    the log and of the cases: 129 s for a million keys here, which in the move stopped reports as long."""
    moved = 0
    with as_owner():
        while True:
            try:
                with transaction.atomic(), connection.cursor() as cur:
                    cur.execute("SELECT taken, moved FROM incidents_archive_keys(%s)", [batch])
                    taken, n = cur.fetchone()
            except DatabaseError as exc:
                return moved, str(exc).strip().splitlines()[0]
            moved += n
            if not taken:
                break
    return moved, validate_keys()


def _months_zone(cur) -> str:
    """The time zone the archive's function cuts months in (set on it by its migration)."""
    cur.execute("SELECT split_part(c, '=', 2) FROM pg_proc p, unnest(p.proconfig) c "
                "WHERE p.oid = 'incidents_archive_months(date)'::regprocedure AND lower(c) LIKE 'timezone=%'")
    row = cur.fetchone()
    return row[0] if row else settings.TIME_ZONE


def validate_keys() -> str:
    """Check the case keys' foreign key to the cases, made again unchecked by an archive (a check of every key
    against the cases, under a lock that lets reports go on); '' when done, else the reason (one line)."""
    with as_owner():
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("SET LOCAL lock_timeout = '30s'")
                cur.execute("SELECT conname FROM pg_constraint WHERE conrelid = 'incidents_casekey'::regclass "
                            "AND contype = 'f' AND conparentid = 0 AND NOT convalidated")
                for (name,) in cur.fetchall():
                    cur.execute(sql.SQL("ALTER TABLE incidents_casekey VALIDATE CONSTRAINT {}").format(
                        sql.Identifier(name)))
        except DatabaseError as exc:
            return str(exc).strip().splitlines()[0]
    return ""


def archived_months() -> list[tuple[str, int]]:
    """The months in the archive and their cases, oldest first (as the owner: the archive is the owner's)."""
    with as_owner(), connection.cursor() as cur:
        cur.execute("SELECT c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'archive' AND c.relname ~ '^incidents_case_p[0-9]{6}$' ORDER BY 1")
        found = []
        for name, _estimate in cur.fetchall():
            cur.execute(f'SELECT count(*) FROM archive."{name}"')
            found.append((f"{name[-6:-2]}-{name[-2:]}", cur.fetchone()[0]))
        return found
