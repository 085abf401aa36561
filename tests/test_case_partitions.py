"""Cases and the case log partitioned by month (incidents/migrations/0013_partitioned_cases.py, README "Growth"):
a case and its steps land in their months; what held on the one table holds on every partition — the
append-only log, the grants, every index, the tallies' triggers; a case's number and client id stay unique across
months (the case key); a period's query reads only its months; and a database that holds unpartitioned cases
migrates without losing a row or a log entry."""

import importlib
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.utils import timezone

from citygrid.dbroles import OWNER, RUNTIME, connect, create_database, drop_database, role_name
from dispatch.history import generate_history
from incidents.models import CaseLog
from incidents.partitions import ensure_partitions
from tests.servers import database_url

ROOT = Path(__file__).resolve().parent.parent
PARENTS = ("incidents_case", "incidents_caselog")


def _month(offset: int = 0) -> tuple:
    """The first day of this month + `offset` months, and of the month after it."""
    today = timezone.localdate().replace(day=1)
    y, m = divmod(today.month - 1 + offset, 12)
    first = today.replace(year=today.year + y, month=m + 1)
    y2, m2 = divmod(first.month, 12)
    return first, first.replace(year=first.year + y2, month=m2 + 1)


def _partitions(parent: str) -> set[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass", [parent])
        return {name for (name,) in cur.fetchall()}


def _where(table: str, row_id: int) -> str:
    with connection.cursor() as cur:
        cur.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [row_id])  # noqa: S608
        return cur.fetchone()[0]


@pytest.fixture
def history(people):
    """Generated history from the 20th of the month before last into last month: cases and steps in their months'
    partitions (the first 200 cases span 18 days of the 20)."""
    first, _ = _month(-2)
    generate_history(200, timezone.make_aware(timezone.datetime(first.year, first.month, 20)), 20 * 86400, "PT")


@pytest.mark.django_db(transaction=True)
def test_cases_and_steps_land_in_their_months_and_every_partition_holds_the_parents_rules(history):
    with connection.cursor() as cur:
        cur.execute("SELECT relkind FROM pg_class WHERE relname IN %s", [PARENTS])
        assert [kind for (kind,) in cur.fetchall()] == ["p", "p"]
        cur.execute("SET TIME ZONE %s", [settings.TIME_ZONE])  # months are cut in the city's time zone
        for parent in PARENTS:
            cur.execute(f"SELECT count(*), count(*) FILTER (WHERE tableoid::regclass::text = "  # noqa: S608
                        f"'{parent}_p' || to_char(created_at, 'YYYYMM')) FROM {parent} WHERE true")
            total, in_month = cur.fetchone()
            assert total > 0 and in_month == total, parent
    runtime = role_name(RUNTIME)
    owner = connect(OWNER, autocommit=True)
    try:
        with owner.cursor() as cur:
            for parent in PARENTS:
                parts = _partitions(parent)
                assert {f"{parent}_p{_month(i)[0]:%Y%m}" for i in range(-2, 3)} | {f"{parent}_default"} <= parts
                # The parent's indexes on every partition (partitioned indexes), the parent's grants on each.
                cur.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [parent])
                indexes = cur.fetchone()[0]
                assert indexes > 5
                for part in sorted(parts):
                    cur.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [part])
                    assert cur.fetchone()[0] == indexes, part
                    cur.execute("SELECT has_table_privilege(%s, %s, 'INSERT'), has_table_privilege(%s, %s, 'UPDATE'),"
                                " has_table_privilege(%s, %s, 'DELETE')", [runtime, part] * 3)
                    # written through the parent only (its statement triggers keep the case keys and tallies)
                    assert cur.fetchone() == (False, False, False), part
            # The log is append-only on each partition, even to the owner writing to a partition directly.
            month = f"incidents_caselog_p{_month(-1)[0]:%Y%m}"
            for statement in (f"UPDATE {month} SET note = 'x'", f"DELETE FROM {month}"):
                with pytest.raises(psycopg2.Error, match="append-only"):
                    cur.execute(statement)
    finally:
        owner.close()
    done = subprocess.run([sys.executable, "manage.py", "check_grants"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "DATABASE_URL": database_url()}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.django_db(transaction=True)
def test_a_number_or_client_id_is_unique_across_months_and_never_changes(history):
    with connection.cursor() as cur:
        cur.execute("SELECT id, number, client_uuid, created_at FROM incidents_case ORDER BY created_at LIMIT 1")
        case_id, number, client_uuid, created_at = cur.fetchone()
        later = created_at + timedelta(days=40)  # another month's partition
        for column in ("number", "client_uuid"):
            with pytest.raises(IntegrityError), transaction.atomic():
                cur.execute("""INSERT INTO incidents_case (number, client_uuid, location, address, district_id,
                                    category_id, description, urgency, source, contact_name, contact_phone,
                                    contact_email, status, rework_count, version, created_at, updated_at,
                                    status_since)
                                SELECT %s, %s, location, '', district_id, category_id, '', 'normal', 'inspector',
                                       '', '', '', 'reported', 0, 1, %s, now(), %s
                                FROM incidents_case WHERE id = %s""",
                            [number if column == "number" else "PT999999999",
                             client_uuid if column == "client_uuid" else "6a1e2f5e-0000-4000-8000-000000000001",
                             later, later, case_id])
        with pytest.raises(IntegrityError, match="never change"), transaction.atomic():
            cur.execute("UPDATE incidents_case SET number = 'PT0' WHERE id = %s", [case_id])
        # A corrected report time moves the case to its month; its key and everything pointing at it follow.
        cur.execute("UPDATE incidents_case SET created_at = %s WHERE id = %s", [later, case_id])
        cur.execute("SELECT created_at FROM incidents_casekey WHERE id = %s", [case_id])
        assert cur.fetchone()[0] == later
    assert _where("incidents_case", case_id) == f"incidents_case_p{later:%Y%m}"
    assert CaseLog.objects.filter(case_id=case_id).exists()


@pytest.mark.django_db(transaction=True)
def test_a_log_entry_needs_its_case_and_a_photo_its_entry(history):
    with connection.cursor() as cur:
        with pytest.raises(IntegrityError), transaction.atomic():
            cur.execute("INSERT INTO incidents_caselog (case_id, action, from_status, to_status, note, created_at) "
                        "VALUES (-1, 'report', '', 'reported', '', now())")
        with pytest.raises(IntegrityError), transaction.atomic():
            cur.execute("INSERT INTO incidents_photo (case_id, log_entry_id, kind, image, thumbnail, width, height, "
                        "created_at) SELECT case_id, -1, 'before', 'x.jpg', 'x.jpg', 1, 1, now() "
                        "FROM incidents_caselog LIMIT 1")
        cur.execute("INSERT INTO incidents_photo (case_id, log_entry_id, kind, image, thumbnail, width, height, "
                    "created_at) SELECT case_id, id, 'before', 'x.jpg', 'x.jpg', 1, 1, now() "
                    "FROM incidents_caselog ORDER BY id LIMIT 1 RETURNING id, log_entry_at")
        photo, at = cur.fetchone()
        assert at is not None  # the entry's time, for the foreign key by (id, time)
        with pytest.raises(IntegrityError, match="incidents_photo_log_entry_fk"), transaction.atomic():
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cur.execute("UPDATE incidents_photo SET log_entry_at = log_entry_at + interval '1 second' WHERE id = %s",
                        [photo])


def _count(table: str, where: str = "true", params=()) -> int:
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table} WHERE {where}", params)  # noqa: S608
        return cur.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_months_made_ahead_take_over_their_rows_from_the_default_partition_without_counting_them_twice(history):
    """A case, its report and closure and a photo on the closure, beyond the months made ahead (the DEFAULT
    partitions take them), and a log entry of a past month nobody made: the next run makes those months and
    moves every row into its month — keys, foreign keys, tallies and the log's rules intact."""
    far, _ = _month(5)
    past, _ = _month(-5)
    at = timezone.make_aware(timezone.datetime(far.year, far.month, 3, 10))
    with connection.cursor() as cur:
        cur.execute("""
            INSERT INTO incidents_case (number, client_uuid, location, address, district_id, category_id, bureau_id,
                description, urgency, source, contact_name, contact_phone, contact_email, status, rework_count,
                version, created_at, updated_at, status_since)
            SELECT 'PTFAR', gen_random_uuid(), location, '', district_id, category_id, bureau_id, '', 'normal',
                   'inspector', '', '', '', 'closed', 0, 1, %s, %s, %s FROM incidents_case LIMIT 1 RETURNING id""",
                    [at, at, at])
        case = cur.fetchone()[0]
        cur.execute("""
            INSERT INTO incidents_caselog (case_id, action, from_status, to_status, note, created_at, bureau_id)
            SELECT %s, action, '', action, '', %s + make_interval(hours => h), bureau_id
            FROM (VALUES ('report', 0), ('close', 25)) s(action, h), incidents_case WHERE id = %s
            RETURNING id""", [case, at, case])
        entries = [row[0] for row in cur.fetchall()]
        cur.execute("INSERT INTO incidents_photo (case_id, log_entry_id, kind, image, thumbnail, width, height, "
                    "created_at) VALUES (%s, %s, 'after', 'a.jpg', 'a.jpg', 1, 1, now())", [case, entries[1]])
        cur.execute("INSERT INTO incidents_caselog (case_id, action, from_status, to_status, note, created_at) "
                    "VALUES (%s, 'remark', 'closed', 'closed', 'late entry', %s) RETURNING id",
                    [case, timezone.make_aware(timezone.datetime(past.year, past.month, 9))])
        late = cur.fetchone()[0]
        cur.execute("SELECT sum(reported), sum(closed) FROM dispatch_dailytally")
        tallies = cur.fetchone()
    assert _where("incidents_case", case) == "incidents_case_default"
    assert {_where("incidents_caselog", e) for e in [*entries, late]} == {"incidents_caselog_default"}
    # Every month from the past one to five ahead, of both tables, exists after the run; those that did not are
    # what it made (other tests of this run may have made some months between: partitions outlive a test).
    wanted = {f"{t}_p{_month(k)[0]:%Y%m}" for t in ("incidents_case", "incidents_caselog") for k in range(-5, 6)}
    missing = wanted - _partitions("incidents_case") - _partitions("incidents_caselog")
    assert {f"incidents_case_p{far:%Y%m}", f"incidents_caselog_p{far:%Y%m}",
            f"incidents_caselog_p{past:%Y%m}"} <= missing
    assert ensure_partitions(None, 5) == len(missing)
    assert wanted <= _partitions("incidents_case") | _partitions("incidents_caselog")
    assert _where("incidents_case", case) == f"incidents_case_p{far:%Y%m}"
    assert {_where("incidents_caselog", e) for e in entries} == {f"incidents_caselog_p{far:%Y%m}"}
    assert _where("incidents_caselog", late) == f"incidents_caselog_p{past:%Y%m}"
    assert ensure_partitions(None, 5) == 0  # safe to run again
    assert _count("incidents_casekey", "id = %s", [case]) == 1
    assert _count("incidents_photo", "log_entry_id = %s", [entries[1]]) == 1
    with connection.cursor() as cur:
        cur.execute("SELECT sum(reported), sum(closed) FROM dispatch_dailytally")
        assert cur.fetchone() == tallies  # moved, not reported or closed again
        # The foreign keys dropped for the move are back, validated, on the moved rows too.
        cur.execute("SELECT conname, convalidated FROM pg_constraint WHERE conname IN "
                    "('incidents_casekey_case_fk', 'incidents_photo_log_entry_fk')")
        assert sorted(cur.fetchall()) == [("incidents_casekey_case_fk", True), ("incidents_photo_log_entry_fk", True)]
        with pytest.raises(IntegrityError), transaction.atomic():
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cur.execute("UPDATE incidents_photo SET log_entry_at = log_entry_at - interval '1 hour' "
                        "WHERE log_entry_id = %s", [entries[1]])
    owner = connect(OWNER, autocommit=True)
    try:  # the moved month and the DEFAULT partition, attached again, are append-only, even to the owner
        with owner.cursor() as cur:
            with pytest.raises(psycopg2.Error, match="append-only"):
                cur.execute(f"DELETE FROM incidents_caselog_p{far:%Y%m} WHERE case_id = %s", [case])  # noqa: S608
            cur.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'incidents_caselog_default'::regclass "
                        "AND tgname = 'incidents_caselog_no_update_delete'")
            assert cur.fetchone()[0] == 1  # the DEFAULT partition has the trigger back (it is empty now)
            # the flag an earlier draft of the move honoured opens nothing (the trigger has no way round it)
            cur.execute("SET incidents.moving_partition = 'incidents_caselog_default'")
            with pytest.raises(psycopg2.Error, match="append-only"):
                cur.execute(f"DELETE FROM incidents_caselog_p{far:%Y%m}")  # noqa: S608
    finally:
        owner.close()
    # the runtime role writes partitions only through their parents
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"INSERT INTO incidents_caselog_p{far:%Y%m} (case_id, action, from_status, to_status, "  # noqa: S608
                    "note, created_at) VALUES (%s, 'x', '', 'x', '', %s)", [case, at])


@pytest.mark.django_db(transaction=True)
def test_a_periods_query_reads_only_its_months(history):
    """A month as the product names it (in the city's time zone, as the evaluation and the bulletins do)."""
    first, after = (timezone.make_aware(timezone.datetime(d.year, d.month, 1)) for d in _month(-1))
    with connection.cursor() as cur:
        for parent in PARENTS:
            cur.execute(f"EXPLAIN SELECT count(*) FROM {parent} WHERE created_at >= %s AND created_at < %s",  # noqa: S608
                        [first, after])
            plan = "\n".join(row[0] for row in cur.fetchall())
            print(plan)
            assert f"{parent}_p{first:%Y%m}" in plan
            assert f"{parent}_p{_month(-2)[0]:%Y%m}" not in plan and f"{parent}_default" not in plan


@pytest.mark.django_db(transaction=True)
def test_a_months_evaluation_by_place_reads_only_its_months_of_the_log(history):
    """Each step carries where its case was (district, street, cell: the history generator writes them as the
    product's CaseLog.save does), so that the flow pass of an evaluation by place reads the month's log alone —
    joining the steps to their cases read every month's partition of the cases, and grew with the years kept."""
    from django.test.utils import CaptureQueriesContext

    from dispatch.evaluation import evaluate

    assert not CaseLog.objects.filter(district__isnull=True).exists()
    assert not CaseLog.objects.exclude(cell_id=models.F("case__cell_id")).exists()
    with connection.cursor() as cur:  # an entry written without its place (raw SQL, an older release) takes it
        cur.execute("""
            INSERT INTO incidents_caselog (case_id, action, from_status, to_status, note, created_at)
            SELECT id, 'callback', status, status, '', now() FROM incidents_case ORDER BY id LIMIT 1
            RETURNING district_id, street_id, cell_id, (SELECT ARRAY[district_id, street_id, cell_id]
                                                       FROM incidents_case ORDER BY id LIMIT 1)""")
        district, street, cell, case_place = cur.fetchone()
    assert [district, street, cell] == case_place and district is not None
    first, after = (timezone.make_aware(timezone.datetime(d.year, d.month, 1)) for d in _month(-1))
    for dimension in ("district", "street", "cell"):
        with CaptureQueriesContext(connection) as queries:
            rows = evaluate(dimension, first, after)
        assert sum(r.reported for r in rows) == CaseLog.objects.filter(
            action="report", created_at__gte=first, created_at__lt=after).count() > 0
        [flow] = [q["sql"] for q in queries if "FROM incidents_caselog" in q["sql"]]
        plan = _plan(flow)
        print(dimension, plan, sep="\n")
        assert "incidents_caselog_p" in plan and "incidents_case_p" not in plan, dimension
        assert not [name for name in re.findall(r"incidents_caselog_p\d+", plan) if name[-6:] != f"{first:%Y%m}"]
    [district] = evaluate("district", first, after)
    with CaptureQueriesContext(connection) as queries:
        [mine] = evaluate("district", first, after, district_id=district.key)
    assert mine.counts == district.counts  # the one district of the city: its own figures are the city's
    [flow] = [q["sql"] for q in queries if "FROM incidents_caselog" in q["sql"]]
    assert "incidents_case_p" not in _plan(flow)


def _plan(sql: str) -> str:
    with connection.cursor() as cur:
        cur.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cur.fetchall())


@pytest.mark.django_db(transaction=True)
def test_a_case_by_its_id_is_read_and_written_in_its_month_only(history):
    """Case.objects.get(pk=…) and save() name the case's month (from its key), so that neither weighs every
    month's partition; a corrected report time still moves the case, and a copy read before the move still saves."""
    from django.test.utils import CaptureQueriesContext

    from incidents.models import Case, CaseKey

    pk = Case.objects.filter(number__startswith="PT").order_by("id").values_list("pk", flat=True).first()
    with CaptureQueriesContext(connection) as queries:
        case = Case.objects.get(pk=str(pk))  # as a URL gives it
        case.description = "read and written in its month"
        case.save(update_fields=["description"])
    read, written = (next(q["sql"] for q in queries if q["sql"].startswith(verb))
                     for verb in ('SELECT "incidents_case"', 'UPDATE "incidents_case"'))
    month = f"incidents_case_p{timezone.localtime(case.created_at):%Y%m}"
    for sql in (read, written):
        plan = _plan(sql)
        print(plan)
        assert set(re.findall(r"incidents_case_(?:p\d{6}|default)", plan)) == {month}
    stale = Case.objects.get(pk=pk)
    moved_to = case.created_at + timedelta(days=35)  # a corrected report time: another month
    case.created_at = moved_to
    case.save()
    assert CaseKey.objects.get(pk=pk).created_at == moved_to == Case.objects.get(pk=pk).created_at
    case.description = "saved again after the move"
    case.save(update_fields=["description"])
    stale.address = "a copy read before the move"
    stale.save(update_fields=["address"])  # its month is stale: the update by id alone follows
    again = Case.objects.get(pk=pk)
    assert (again.description, again.address, again.created_at) == ("saved again after the move",
                                                                     "a copy read before the move", moved_to)
    assert _where("incidents_case", pk) == f"incidents_case_p{timezone.localtime(moved_to):%Y%m}"
    with pytest.raises(Case.DoesNotExist):
        Case.objects.get(pk=10**12)
    with pytest.raises(Case.DoesNotExist):  # out of the queryset's scope
        Case.objects.exclude(pk=pk).get(pk=pk)


PLACING = importlib.import_module("incidents.migrations.0022_caselog_place_in_batches")


def _unplace(cur, where: str) -> int:
    """As the owner: the entries `where` says lose their place, as entries written before 0015 had none."""
    cur.execute("BEGIN")
    cur.execute("ALTER TABLE incidents_caselog DISABLE TRIGGER incidents_caselog_no_update_delete")
    cur.execute(f"UPDATE incidents_caselog SET district_id = NULL, street_id = NULL, cell_id = NULL WHERE {where}")
    n = cur.rowcount
    cur.execute("ALTER TABLE incidents_caselog ENABLE TRIGGER incidents_caselog_no_update_delete")
    cur.execute("COMMIT")
    return n


def _rows(cur, table: str, where: str = "true") -> int:
    cur.execute(f"SELECT count(*) FROM {table} WHERE {where}")  # noqa: S608
    return cur.fetchone()[0]


def _misplaced(cur) -> tuple[int, int]:
    """Entries without a place, and entries whose place is not their case's."""
    cur.execute("""
        SELECT count(*) FILTER (WHERE l.district_id IS NULL), count(*) FILTER (WHERE l.district_id IS NOT NULL AND
               (l.district_id, l.street_id, l.cell_id) IS DISTINCT FROM (c.district_id, c.street_id, c.cell_id))
        FROM incidents_caselog l JOIN incidents_case c ON c.id = l.case_id""")
    return cur.fetchone()


@pytest.mark.django_db(transaction=True)
def test_log_entries_written_before_their_place_existed_take_it_in_batches_that_hold_one_month_each(
        history, monkeypatch):
    """0022: a batch at a time, each its own transaction over one month's partition; a month kept busy stops the run
    in one line with what was done kept, and a second run finishes; the log is append-only again on every month."""
    monkeypatch.setattr(PLACING, "LOCK_TRIES_S", 0.5)
    owner = connect(OWNER, autocommit=True)
    other = connect(OWNER, autocommit=True)
    try:
        with owner.cursor() as cur, other.cursor() as busy:
            unplaced = _unplace(cur, "true")
            assert unplaced > 400 and _misplaced(cur) == (unplaced, 0)
            months = sorted(p for p in _partitions("incidents_caselog") if _rows(cur, p) > 0)
            assert len(months) >= 2
            # The last month with entries held by a transaction that has not ended: the months before it are done,
            # then the run stops on it.
            busy.execute("BEGIN")
            busy.execute(f"LOCK TABLE {months[-1]} IN SHARE MODE")
            said: list[str] = []
            with pytest.raises(PLACING.PartitionBusy, match=f"{months[-1]} stayed in use"):
                PLACING.place_entries(cur, batch=7, say=said.append)
            left = _rows(cur, months[-1], "district_id IS NULL")
            assert left == _rows(cur, months[-1]) and _misplaced(cur) == (left, 0)
            assert len(said) == len(months) - 1 and all("placed in" in line for line in said)
            busy.execute("ROLLBACK")
            assert PLACING.place_entries(cur, batch=7, say=said.append) == left
            assert _misplaced(cur) == (0, 0)
            assert PLACING.place_entries(cur, batch=7, say=said.append) == 0  # nothing left: nothing done
            # Append-only again on every month, even to the owner.
            cur.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'incidents_caselog_no_update_delete' "
                        "AND tgenabled <> 'O'")
            assert cur.fetchone()[0] == 0
            for month in months:
                with pytest.raises(psycopg2.Error, match="append-only"):
                    cur.execute(f"DELETE FROM {month}")  # noqa: S608
    finally:
        owner.close()
        other.close()


def _run(args: list[str], env: dict, what: str) -> str:
    started = time.monotonic()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{what} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    print(f"case partition migration: {what} {time.monotonic() - started:.1f} s")
    return done.stdout


# Everything that points at a case or a log entry, and the rows themselves, as one comparable value each; the log's
# place, added by a later migration (0015) and filled from the cases, is checked apart.
LATER_COLUMNS = {"incidents_caselog": " - 'district_id' - 'street_id' - 'cell_id'"}
SNAPSHOT = {
    table: f"SELECT count(*), md5(coalesce(string_agg((to_jsonb(x){LATER_COLUMNS.get(table, '')})::text, ',' "
           f"ORDER BY x.id), '')) FROM {table} x"
    for table in ("incidents_case", "incidents_caselog", "incidents_callback", "dispatch_dailytally")
}
SNAPSHOT["incidents_photo"] = ("SELECT count(*), md5(coalesce(string_agg(concat_ws('|', id, case_id, log_entry_id, "
                               "image), ',' ORDER BY id), '')) FROM incidents_photo")


PRE_PARTITION = """
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

before = {"incidents": "0012", "dispatch": "0014", "emergency": "0001", "monitoring": "0009"}
apps = sorted(app for app, _name in MigrationLoader(connection).graph.leaf_nodes())
for app in ["auth", *apps]:  # auth first (it brings the content types whole): every migrate's signal writes both
    if app not in before:
        call_command("migrate", app, verbosity=0)
for app, target in before.items():
    call_command("migrate", app, target, verbosity=0)
"""


def test_a_database_with_unpartitioned_cases_migrates_without_losing_a_row_or_a_log_entry():
    """A database at the migrations before (cases and their log one table each), fourteen months of cases with
    their steps, photos on steps, callbacks and tallies written into it, then `migrate`: every row, id and value
    is there after, each case and step in its month, the ids carry on, the log is still append-only."""
    name = f"citygrid_partmig_{os.getpid()}"
    url = database_url().rsplit("/", 1)[0] + "/" + name
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "off", "LOG_LEVEL": "ERROR"}
    manage = [sys.executable, "manage.py"]
    create_database(name, must_be_new=True)
    try:
        # The apps that point at cases to their migrations before the partitions; every other app to its last.
        _run([*manage, "shell", "-c", PRE_PARTITION], env, "migrate to the migrations before")
        conn = psycopg2.connect(url.replace("postgis://", "postgresql://"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("""
                INSERT INTO grids_area (level, code, name, geom, updated_at, is_current)
                VALUES (1, '430302', '雨湖区', ST_Multi(ST_MakeEnvelope(112.8, 27.8, 113.0, 28.0, 4326)), now(), true)
                RETURNING id""")
            district = cur.fetchone()[0]
            cur.execute("INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, "
                        "is_staff, is_active, date_joined) VALUES ('!', false, 'op', '', '', '', true, true, now()) "
                        "RETURNING id")
            operator = cur.fetchone()[0]
            cur.execute("""
                INSERT INTO incidents_case (number, client_uuid, location, address, district_id, category_id,
                    description, urgency, source, contact_name, contact_phone, contact_email, status, rework_count,
                    version, created_at, updated_at, status_since, deadline, processed_at, closed_at)
                SELECT 'MG' || lpad(i::text, 9, '0'), gen_random_uuid(), ST_SetSRID(ST_MakePoint(112.9, 27.9), 4326),
                       '', %s, (SELECT min(id) FROM incidents_category WHERE parent_id IS NOT NULL), 'case ' || i,
                       'normal', 'inspector', '', '', '', 'closed', 0, 1, now() - make_interval(days => i), now(),
                       now() - make_interval(days => i), now() - make_interval(days => i, hours => -24),
                       now() - make_interval(days => i, hours => -20 - i %% 9),
                       now() - make_interval(days => i, hours => -30)
                FROM generate_series(0, 420) i""", [district])
            for action, hours in (("report", 0), ("register", 1), ("process", 20), ("close", 25)):
                cur.execute("""
                    INSERT INTO incidents_caselog (case_id, action, from_status, to_status, note, created_at)
                    SELECT id, %s, '', %s, '', created_at + make_interval(hours => %s) FROM incidents_case""",
                            [action, action, hours])
            cur.execute("""
                INSERT INTO incidents_photo (case_id, log_entry_id, kind, image, thumbnail, width, height, created_at)
                SELECT case_id, id, 'after', 'photos/' || id || '.jpg', 'thumbs/' || id || '.jpg', 640, 480, created_at
                FROM incidents_caselog WHERE action = 'process' AND id % 3 = 0""")
            cur.execute("""
                INSERT INTO incidents_callback (case_id, work_case_id, operator_id, district_id, reached, satisfaction,
                                                note, reopened, created_at)
                SELECT id, id, %s, district_id, true, 'satisfied', '', false, created_at + interval '2 days'
                FROM incidents_case WHERE id %% 5 = 0""", [operator])
            before = {}
            for table, query in SNAPSHOT.items():
                cur.execute(query)
                before[table] = cur.fetchone()
            cur.execute("SELECT max(id) FROM incidents_case")
            last_case = cur.fetchone()[0]
        conn.close()
        assert before["incidents_caselog"][0] == 421 * 4 and before["incidents_photo"][0] > 100

        _run([*manage, "migrate", "--noinput", "-v0"], env, "migrate")
        _run([*manage, "check_grants"], env, "check_grants")

        conn = psycopg2.connect(url.replace("postgis://", "postgresql://"))
        conn.autocommit = True
        with conn.cursor() as cur:
            for table, query in SNAPSHOT.items():
                if table == "incidents_photo":
                    cur.execute(query)
                    assert cur.fetchone() == before[table], table
                else:
                    cur.execute(query)
                    assert cur.fetchone() == before[table], table  # every row, id and value
            cur.execute("SET TIME ZONE 'Asia/Shanghai'")  # the months as the migration cut them (TIME_ZONE)
            for parent in PARENTS:
                cur.execute(f"SELECT count(*) FROM {parent} WHERE tableoid::regclass::text <> "  # noqa: S608
                            f"'{parent}_p' || to_char(created_at, 'YYYYMM')")
                assert cur.fetchone()[0] == 0, parent  # each in its month
            cur.execute("SELECT count(*) FROM incidents_casekey")
            assert cur.fetchone()[0] == 421
            cur.execute("SELECT count(*) FROM incidents_photo WHERE log_entry_at IS NULL")
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT count(*) FILTER (WHERE l.district_id = c.district_id), count(*) "
                        "FROM incidents_caselog l JOIN incidents_case c ON c.id = l.case_id")
            filled, entries = cur.fetchone()
            assert filled == entries == 421 * 4  # every entry knows its case's district (0015)
            cur.execute("SELECT sum(n), sum(n) FILTER (WHERE processed_by_deadline), sum(n) FILTER (WHERE closed_day "
                        "IS NOT NULL) FROM dispatch_duetally")  # the cases present counted in (dispatch 0016)
            assert cur.fetchone() == (421, sum(1 for i in range(421) if 20 + i % 9 <= 24), 421)
            cur.execute("SET ROLE citygrid_app")
            cur.execute("""
                INSERT INTO incidents_case (number, client_uuid, location, address, district_id, category_id,
                    description, urgency, source, contact_name, contact_phone, contact_email, status, rework_count,
                    version, created_at, updated_at, status_since)
                SELECT 'MGAFTER', gen_random_uuid(), location, '', district_id, category_id, '', 'normal', 'inspector',
                       '', '', '', 'reported', 0, 1, now(), now(), now() FROM incidents_case LIMIT 1 RETURNING id""")
            assert cur.fetchone()[0] == last_case + 1  # the ids carry on
        conn.close()
        owner = connect(OWNER, name, autocommit=True)
        try:
            with owner.cursor() as cur, pytest.raises(psycopg2.Error, match="append-only"):
                cur.execute("DELETE FROM incidents_caselog WHERE action = 'close'")  # even to the owner
        finally:
            owner.close()
    finally:
        drop_database(name)
