"""The audit trail partitioned by month (citygrid/migrations/0009_audit_partitioned.py, README "Growth"): what
held on the one table holds on every partition — the append-only trigger, the grants, the retention — a
period's query reads only its months, and a database that holds an unpartitioned trail migrates without
losing a row."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest
from django.db import connection
from django.utils import timezone

from citygrid.audit import ensure_partitions, purge_expired, record
from citygrid.dbroles import OWNER, RUNTIME, connect, role_name
from citygrid.pgcluster import Cluster, chown_to, default_os_user
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def _month(offset: int = 0) -> tuple:
    """The first day of this month + `offset` months, and of the month after it."""
    today = timezone.localdate().replace(day=1)
    y, m = divmod(today.month - 1 + offset, 12)
    first = today.replace(year=today.year + y, month=m + 1)
    y2, m2 = divmod(first.month, 12)
    return first, first.replace(year=first.year + y2, month=m2 + 1)


def _partition_of(event_id: int) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT tableoid::regclass::text FROM citygrid_auditevent WHERE id = %s", [event_id])
        return cur.fetchone()[0]


def _owner_connection():
    return connect(OWNER, autocommit=True)


@pytest.mark.django_db(transaction=True)
def test_an_event_lands_in_its_month_and_the_partitions_stay_append_only():
    event = record("login", detail="partitioned")
    first, _ = _month()
    assert _partition_of(event.pk) == f"citygrid_auditevent_p{first:%Y%m}"
    with connection.cursor() as cur:
        cur.execute("SELECT relkind FROM pg_class WHERE relname = 'citygrid_auditevent'")
        assert cur.fetchone()[0] == "p"
        cur.execute("SELECT inhrelid::regclass::text FROM pg_inherits "
                    "WHERE inhparent = 'citygrid_auditevent'::regclass")
        partitions = {name for (name,) in cur.fetchall()}
    made_ahead = {f"citygrid_auditevent_p{_month(i)[0]:%Y%m}" for i in range(3)}
    assert made_ahead | {"citygrid_auditevent_default"} <= partitions
    runtime = role_name(RUNTIME)
    owner = _owner_connection()
    try:
        with owner.cursor() as cur:
            for part in sorted(partitions):
                # The runtime role: read and append, nothing else, on each partition as on the trail.
                cur.execute("SELECT has_table_privilege(%s, %s, 'SELECT'), has_table_privilege(%s, %s, 'INSERT'), "
                            "has_table_privilege(%s, %s, 'UPDATE'), has_table_privilege(%s, %s, 'DELETE')",
                            [runtime, part] * 4)
                assert cur.fetchone() == (True, True, False, False), part
            # Even the owner cannot change or remove a young trace, through a partition directly.
            for statement in (f"UPDATE citygrid_auditevent_p{first:%Y%m} SET detail = 'x' WHERE id = %s",
                              f"DELETE FROM citygrid_auditevent_p{first:%Y%m} WHERE id = %s"):
                with pytest.raises(psycopg2.Error, match="append-only"):
                    cur.execute(statement, [event.pk])
    finally:
        owner.close()


@pytest.mark.django_db(transaction=True)
def test_months_made_ahead_take_over_their_rows_from_the_default_partition_with_the_parents_grants():
    far, _ = _month(5)  # beyond the months made ahead: the DEFAULT partition takes it for now
    with connection.cursor() as cur:
        cur.execute("INSERT INTO citygrid_auditevent (at, username, action, target, result, detail) "
                    "VALUES (%s, 'clock', 'login', '', 'ok', 'skewed') RETURNING id", [far + timedelta(days=3)])
        early = cur.fetchone()[0]
    assert _partition_of(early) == "citygrid_auditevent_default"
    assert ensure_partitions(5) == 3  # months 3, 4 and 5 ahead; 0 to 2 existed
    assert _partition_of(early) == f"citygrid_auditevent_p{far:%Y%m}"
    assert ensure_partitions(5) == 0  # safe to run again
    runtime = role_name(RUNTIME)
    with connection.cursor() as cur:
        cur.execute("SELECT has_table_privilege(%s, %s, 'INSERT'), has_table_privilege(%s, %s, 'UPDATE'), "
                    "has_table_privilege(%s, %s, 'DELETE')", [runtime, f"citygrid_auditevent_p{far:%Y%m}"] * 3)
        assert cur.fetchone() == (True, False, False)
    owner = _owner_connection()
    try:  # the new month is append-only too (the parent's trigger, cloned), even to the owner
        with owner.cursor() as cur, pytest.raises(psycopg2.Error, match="append-only"):
            cur.execute(f"UPDATE citygrid_auditevent_p{far:%Y%m} SET detail = 'x' WHERE id = %s", [early])
    finally:
        owner.close()


@pytest.mark.django_db(transaction=True)
def test_a_periods_query_reads_only_its_months():
    first, after = _month()
    with connection.cursor() as cur:
        cur.execute("EXPLAIN SELECT * FROM citygrid_auditevent WHERE at >= %s AND at < %s", [first, after])
        plan = "\n".join(row[0] for row in cur.fetchall())
    print(plan)
    assert f"citygrid_auditevent_p{first:%Y%m}" in plan
    assert f"citygrid_auditevent_p{_month(1)[0]:%Y%m}" not in plan and "citygrid_auditevent_default" not in plan


@pytest.mark.django_db(transaction=True)
def test_retention_drops_whole_old_months_and_keeps_young_traces():
    old_first, old_after = _month(-14)
    owner = _owner_connection()
    try:
        with owner.cursor() as cur:  # a month the trail held long ago, as a long-running deployment has
            cur.execute(f"CREATE TABLE citygrid_auditevent_p{old_first:%Y%m} PARTITION OF citygrid_auditevent "
                        "FOR VALUES FROM (%s) TO (%s)", [old_first, old_after])
    finally:
        owner.close()
    with connection.cursor() as cur:
        for at in (old_first + timedelta(days=1), old_first + timedelta(days=20),  # its month, gone whole
                   timezone.now() - timedelta(days=300)):  # in the DEFAULT partition: deleted row by row
            cur.execute("INSERT INTO citygrid_auditevent (at, username, action, target, result, detail) "
                        "VALUES (%s, 'old', 'login', '', 'ok', '')", [at])
    young = record("login", detail="young")
    assert purge_expired(180) == 3
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relname = %s", [f"citygrid_auditevent_p{old_first:%Y%m}"])
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM citygrid_auditevent WHERE username = 'old'")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT detail FROM citygrid_auditevent WHERE id = %s", [young.pk])
        assert cur.fetchone()[0] == "young"


def _run(args: list[str], env: dict, what: str) -> str:
    started = time.monotonic()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{what} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    print(f"partition migration: {what} {time.monotonic() - started:.1f} s")
    return done.stdout


def test_an_unpartitioned_trail_migrates_without_losing_a_row():
    """On a cluster of the test's own: a database at the migration before (the trail one table), traces over
    fourteen months written into it, then `migrate` — every row, id and value is there after, each in its
    month's partition, the ids carry on, and the trail is still append-only."""
    path = Path(tempfile.mkdtemp(prefix="citygrid-partitions-", dir="/tmp"))
    os_user = default_os_user()
    (path / "sock").mkdir()
    chown_to(path, os_user)
    cluster = Cluster(data_dir=path / "data", port=free_port(), socket_dir=path / "sock", os_user=os_user)
    try:
        cluster.initdb()
        cluster.listen_here()
        cluster.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BACKUP_", "PG"))}
        env.update(DATABASE_URL=cluster.url("citygrid", "citygrid_app"), PGUSER=os_user, REDIS_URL="off",
                   LOG_LEVEL="ERROR")
        manage = [sys.executable, "manage.py"]
        _run([*manage, "create_database"], env, "create_database")
        _run([*manage, "migrate", "citygrid", "0008", "--noinput", "-v0"], env, "migrate to 0008")
        conn = cluster.connect("citygrid", user="citygrid_app")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("""INSERT INTO citygrid_auditevent (at, username, action, target, result, detail)
                           SELECT now() - make_interval(days => i * 3), 'u' || i, 'login', 't' || i, 'ok', 'd' || i
                           FROM generate_series(0, 140) i""")
            cur.execute("SELECT json_agg(json_build_array(id, at, username, target, detail) ORDER BY id) "
                        "FROM citygrid_auditevent")
            before = cur.fetchone()[0]
        conn.close()
        _run([*manage, "migrate", "--noinput", "-v0"], env, "migrate")
        _run([*manage, "check_grants"], env, "check_grants")
        conn = cluster.connect("citygrid", user="citygrid_app")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT json_agg(json_build_array(id, at, username, target, detail) ORDER BY id) "
                        "FROM citygrid_auditevent")
            assert cur.fetchone()[0] == before  # every row, id and value
            # Months as the migration cut them: in UTC, Django's connection time zone (this connection has the
            # cluster's own, which puts rows of a month's last hours in the next where it is not UTC).
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute("SELECT count(*) FROM citygrid_auditevent WHERE tableoid::regclass::text <> "
                        "'citygrid_auditevent_p' || to_char(at, 'YYYYMM')")
            assert cur.fetchone()[0] == 0  # each in its month
            cur.execute("INSERT INTO citygrid_auditevent (at, username, action, target, result, detail) "
                        "VALUES (now(), 'after', 'login', '', 'ok', '') RETURNING id")
            assert cur.fetchone()[0] == max(row[0] for row in json.loads(json.dumps(before))) + 1
        conn.close()
        owner = cluster.connect("citygrid", user="citygrid_owner")
        with owner.cursor() as cur, pytest.raises(psycopg2.Error, match="append-only"):
            cur.execute("DELETE FROM citygrid_auditevent WHERE username = 'after'")  # even to the owner
        owner.close()
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(path, ignore_errors=True)
