"""Old months of cases into the schema `archive` (migration 0017: incidents_archive_months), whole case families
at a time: the cases' and the log's monthly partitions detached, everything that belongs to those cases moved,
their keys last. Run by the owner role (the runtime role can neither do it nor read the archive)."""

import re
from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction
from psycopg2 import sql

from citygrid.audit import record
from citygrid.dbroles import BACKUP, as_owner, role_name

MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class ArchiveError(ValueError):
    """The months cannot be archived (the database's reason, one line); nothing was moved."""


@dataclass(frozen=True)
class Archived:
    through: date
    moved: list[tuple[str, int]]  # (table, rows) in the order they moved; "(emptied)" for references cleared

    @property
    def cases(self) -> int:
        return sum(n for table, n in self.moved if re.fullmatch(r"incidents_case_p\d{6}", table))


def parse_month(text: str) -> date:
    match = MONTH.match(text or "")
    if not match or not 1 <= int(match[2]) <= 12:
        raise ArchiveError(f"not a month: {text!r} (YYYY-MM)")
    return date(int(match[1]), int(match[2]), 1)


def archive_through(through: date) -> Archived:
    """Archive every month of cases up to and including `through`'s, in one transaction; ArchiveError if the
    database refuses (a case not finished, a later case pointing in, a month not over)."""
    from django.db import DatabaseError

    with as_owner():
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("SELECT tbl, moved FROM incidents_archive_months(%s)", [through])
                moved = [(t, int(n)) for t, n in cur.fetchall()]
                # The backups (pg_dump as the backup role, which reads everything) read the archive too.
                backup = sql.Identifier(role_name(BACKUP))
                cur.execute(sql.SQL("GRANT USAGE ON SCHEMA archive TO {}").format(backup))
                cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA archive TO {}").format(backup))
        except DatabaseError as exc:
            raise ArchiveError(str(exc).strip().splitlines()[0]) from exc
    result = Archived(through, moved)
    record("cases_archive", user=None, username="archive_cases", target=f"month: {through:%Y-%m}",
           detail=f"{result.cases} cases; " + ", ".join(f"{t} {n}" for t, n in moved if n))
    return result


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
