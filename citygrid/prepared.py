"""Hot statements prepared once per database connection and executed by name thereafter.

psycopg2 sends every statement as text, which PostgreSQL parses, analyses and plans anew each time. For several
statements every report runs that is most of their cost: planning the token look-up took 0.18 ms against 0.04 ms
to run it, the audit record's INSERT into its partitioned trail 0.13 against 0.06 (pg_stat_statements under the
intake benchmark). A statement prepared on the connection is parsed once and, with the connection's
plan_cache_mode=force_generic_plan (settings), planned once; partitions are then pruned when it runs. Not every
statement gains from one generic plan: the duplicate search's would take the time index and read every case of its
window, so it keeps its plan inside a database function whose settings rule those paths out (incidents migration
0023); the prepared statement only calls it.

A prepared statement belongs to the session, and is not undone by a rollback; it is remembered per raw
connection, so a reconnection prepares again. Not behind a pooler that shares a session between clients (a
transaction-mode PgBouncer): the statements would not be there. A statement is typed when it is prepared, from
its context: a parameter used twice must have one type, and the text must be one statement. This module imports
nothing of the project but Django: any app may use it.
"""

import hashlib
import re
from functools import lru_cache
from typing import Any

from django.db import DatabaseError

_PLACEHOLDER = re.compile(r"%%|%s|%\((\w+)\)s")


@lru_cache(maxsize=512)
def _parsed(sql: str) -> tuple[str, str, tuple[str, ...] | int]:
    """The statement's name, its PREPARE, and its parameters: their count (for %s) or names (for %(name)s),
    in the order of $1, $2, …"""
    names: list[str] = []
    count = 0

    def number(match: re.Match) -> str:
        nonlocal count
        if match.group() == "%%":
            return "%"
        if match.group(1):
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"
        count += 1
        return f"${count}"

    body = _PLACEHOLDER.sub(number, sql)
    if names and count:
        raise ValueError("prepared: a statement takes %s or %(name)s placeholders, not both")
    name = "cg_" + hashlib.blake2s(sql.encode(), digest_size=8).hexdigest()
    return name, f"PREPARE {name} AS {body}", tuple(names) if names else count


def execute_sql(cursor, sql: str, params: Any = ()) -> tuple[str, list]:
    """The EXECUTE that runs `sql` (with %s or %(name)s placeholders) with `params`, as a statement and its
    parameters for `cursor`; the statement is prepared on the cursor's connection first if it is not yet."""
    name, prepare, shape = _parsed(sql)
    values = [params[n] for n in shape] if isinstance(shape, tuple) else list(params)
    if isinstance(shape, int) and len(values) != shape:
        raise ValueError(f"prepared: {shape} parameters expected, {len(values)} given")
    db = cursor.db
    known = getattr(db, "_citygrid_prepared", None)
    if known is None or known[0] is not db.connection:
        known = db._citygrid_prepared = (db.connection, set())
    if None in known[1]:  # the server's statements no longer match ours (_STALE): start again
        cursor.execute("DEALLOCATE ALL")
        known[1].clear()
    if name not in known[1]:
        cursor.execute(prepare)  # no parameters: the text goes as it is
        known[1].add(name)
    return (f"EXECUTE {name}({', '.join(['%s'] * len(values))})" if values else f"EXECUTE {name}"), values


# A statement the server no longer holds (DISCARD ALL, DEALLOCATE) or whose result changed type under it (a
# migration altered a column it reads): its EXECUTE fails with these.
_STALE = {"26000", "0A000"}


def execute_many(cursor, statements: list[tuple[str, Any]]) -> None:
    """Run each (sql, params) as a statement prepared on `cursor`'s connection, all in one round trip (a
    multi-statement query: outside a transaction, one of its own). When the server's prepared statements no
    longer match this process's, they are all made again: at once when the query was a transaction of its own
    (nothing of it stayed), else at the next use, the caller's transaction being spoilt."""
    for attempt in (1, 2):
        executes = [execute_sql(cursor, sql, params) for sql, params in statements]
        try:
            cursor.execute(";\n".join(sql for sql, _ in executes), [p for _, ps in executes for p in ps])
            return
        except DatabaseError as exc:
            if getattr(exc.__cause__, "pgcode", None) not in _STALE:
                raise
            cursor.db._citygrid_prepared[1].add(None)
            if attempt == 2 or cursor.db.in_atomic_block:
                raise


def execute(cursor, sql: str, params: Any = ()) -> None:
    """Run `sql` with `params` on `cursor` as a statement prepared on its connection."""
    execute_many(cursor, [(sql, params)])
