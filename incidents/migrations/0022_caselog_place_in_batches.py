"""The log entries written before 0015 take their case's place (district, street, cell) here, in batches of their
own transactions, month by month, instead of in 0015's one statement.

Why: 0015 filled every entry in one UPDATE under the log's exclusive lock. On the benchmark's 10 M database (about
54 M entries) it had not finished after 49 minutes, and no step of any case could be written meanwhile. Here each
batch of BATCH entries is a short transaction that holds only its month's partition (the append-only trigger is off
for that partition, for that transaction only: ALTER TABLE takes the partition's lock, so nothing else can slip an
update in); reports and steps of other months never wait, those of the batch's month wait for one batch. A run cut
short leaves the entries done so far placed; `migrate` again goes on from there (entries without a place are the
ones left). A database migrated at 0015 before this change has them all placed already: nothing to do.
"""

import time

from django.db import migrations

# A batch holds its month's partition while it runs (about 0.35 s at 5,000 on the benchmark's machine): the reports
# and steps of that month, the current one included, wait that long at most, once a batch.
BATCH = 5_000
LOCK_TRIES_S = 30  # how long a batch tries for its partition, 100 ms at a time, before the run stops


class PartitionBusy(RuntimeError):
    pass


def _partitions(cur) -> list[str]:
    cur.execute("""
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'public.incidents_caselog'::regclass ORDER BY c.relname""")
    return [name for (name,) in cur.fetchall()]


def _busy(exc: BaseException) -> bool:
    """Whether the error is a lock wait that timed out (55P03), as psycopg2 raises it or as Django wraps it."""
    return any(getattr(e, "pgcode", None) == "55P03" for e in (exc, exc.__cause__))


def _batch(cur, partition: str, after: int, batch: int) -> tuple[int | None, int]:
    """Place the entries of `partition` with ids above `after`, up to `batch` of them, in one transaction: the last
    id looked at (None when none was left) and how many entries took a place."""
    table = f'public."{partition}"'
    cur.execute("BEGIN")
    try:
        # Pending checks of the foreign keys (deferred) would forbid the ALTER TABLE that ends the batch.
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # Every lock of the batch (the partition's, then the cases' and keys' for the UPDATE) in 100 ms tries: a batch
        # that cannot have one rolls back and is tried again, never left holding the month while it waits.
        cur.execute("SET LOCAL lock_timeout = '100ms'")
        cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER incidents_caselog_no_update_delete")
        cur.execute(f"SELECT max(id) FROM (SELECT id FROM {table} WHERE id > %s ORDER BY id LIMIT %s) s",  # noqa: S608
                    [after, batch])
        last = cur.fetchone()[0]
        placed = 0
        if last is not None:
            # The case through its key: the key names the case's month, so each look-up reads one partition.
            cur.execute(f"""
                UPDATE {table} l SET district_id = c.district_id, street_id = c.street_id, cell_id = c.cell_id
                FROM incidents_casekey k JOIN incidents_case c ON c.id = k.id AND c.created_at = k.created_at
                WHERE k.id = l.case_id AND l.id > %s AND l.id <= %s AND l.district_id IS NULL
                  AND c.district_id IS NOT NULL""", [after, last])  # noqa: S608
            placed = cur.rowcount
        cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER incidents_caselog_no_update_delete")
        cur.execute("COMMIT")
        return last, placed
    except BaseException:
        cur.execute("ROLLBACK")
        raise


def _batch_when_free(cur, partition: str, after: int, batch: int) -> tuple[int | None, int]:
    """_batch, tried again while its locks are busy, for LOCK_TRIES_S; then PartitionBusy."""
    tried_since = time.monotonic()
    while True:
        try:
            return _batch(cur, partition, after, batch)
        except Exception as exc:
            if not _busy(exc):
                raise
            if time.monotonic() - tried_since > LOCK_TRIES_S:
                raise PartitionBusy(f"{partition} stayed in use for {LOCK_TRIES_S} s") from None
            time.sleep(0.05)


def place_entries(cur, batch: int = BATCH, say=print) -> int:
    """Give every log entry without a place its case's place, BATCH entries a transaction, each partition in turn;
    `cur` is a cursor in autocommit mode of the tables' owner. The number of entries placed."""
    total = 0
    for partition in _partitions(cur):
        # From the first entry without a place: a month placed already, or all but its last entries, is not walked.
        cur.execute(f'SELECT min(id) FROM public."{partition}" WHERE district_id IS NULL')  # noqa: S608
        first = cur.fetchone()[0]
        if first is None:
            continue
        started, after, placed = time.monotonic(), first - 1, 0
        while after is not None:
            try:
                after, n = _batch_when_free(cur, partition, after, batch)
            except PartitionBusy as exc:
                raise PartitionBusy(f"{exc}: {total + placed:,} log entries were placed, the rest were not; run "
                                    "migrate again in a quieter moment") from None
            placed += n
        total += placed
        say(f"  {partition}: {placed:,} log entries placed in {time.monotonic() - started:.1f} s")
    return total


def forward(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cur:
        place_entries(cur)


class Migration(migrations.Migration):
    atomic = False  # each batch is its own transaction

    dependencies = [
        ("incidents", "0021_case_archive_locks"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
