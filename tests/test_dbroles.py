"""Least privilege in the database: the tests connect as the runtime role that serves and try what it must not
do; the owner's triggers and the purge function are tried with hostile input; the grants check is shown a
table whose grants differ. Each of these fails when the application connects as a superuser owning the tables
(the layout before the roles)."""

from datetime import timedelta

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from citygrid import dbroles

pytestmark = pytest.mark.django_db

INSUFFICIENT_PRIVILEGE = "42501"


def _refused(cur, statement: str, params=None) -> str:
    """Run `statement` in a savepoint; it must fail for want of privilege. Returns the error's message."""
    with pytest.raises(Exception) as caught, transaction.atomic():  # noqa: PT011 (checked below)
        cur.execute(statement, params)
    error = caught.value.__cause__ or caught.value
    assert getattr(error, "pgcode", None) == INSUFFICIENT_PRIVILEGE, f"{statement}: {error}"
    return str(error)


def _tables() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1")
        return [name for (name,) in cur.fetchall()]


def test_the_tests_and_the_application_run_as_the_runtime_role_which_is_no_superuser_and_owns_nothing():
    with connection.cursor() as cur:
        cur.execute("SELECT current_user, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
                    "FROM pg_roles WHERE rolname = current_user")
        user, *powers = cur.fetchone()
        assert user == dbroles.role_name(dbroles.RUNTIME) != dbroles.role_name(dbroles.OWNER)
        assert powers == [False] * 5
        cur.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
                    "WHERE rolname = current_user) AND relnamespace = 'public'::regnamespace")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert cur.fetchone()[0] == dbroles.role_name(dbroles.OWNER)
        cur.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", [dbroles.role_name(dbroles.OWNER)])
        assert cur.fetchone()[0] is False
    call_command("check_grants")  # and every table has exactly its declared grants


def test_the_runtime_role_cannot_alter_drop_truncate_or_disable_triggers_on_any_table():
    tables = _tables()
    assert {"incidents_case", "incidents_caselog", "citygrid_auditevent", "citygrid_audit_retention",
            "spatial_ref_sys", "django_migrations"} <= set(tables) and len(tables) > 40
    with connection.cursor() as cur:
        for table in tables:
            for statement in ("ALTER TABLE {} DISABLE TRIGGER ALL", "ALTER TABLE {} ADD COLUMN probe integer",
                              "ALTER TABLE {} OWNER TO CURRENT_USER", "DROP TABLE {}", "TRUNCATE {}",
                              "CREATE TRIGGER probe BEFORE INSERT ON {} FOR EACH ROW "
                              "EXECUTE FUNCTION suppress_redundant_updates_trigger()"):
                _refused(cur, statement.format(f'"{table}"'))
        # The rules that guard the trail live in the owner's functions and constraints.
        _refused(cur, "DROP TRIGGER citygrid_auditevent_no_update_delete ON citygrid_auditevent")
        _refused(cur, "ALTER TABLE citygrid_audit_retention DROP CONSTRAINT citygrid_audit_retention_days_check")
        _refused(cur, "CREATE OR REPLACE FUNCTION citygrid_audit_append_only() RETURNS trigger LANGUAGE plpgsql "
                      "AS 'BEGIN RETURN OLD; END'")
        _refused(cur, "UPDATE citygrid_audit_retention SET days = 180")
        _refused(cur, "ALTER FUNCTION citygrid_audit_purge(integer) SECURITY INVOKER")


def test_the_runtime_role_cannot_change_or_erase_the_case_log_or_the_audit_trail(people):
    from citygrid.audit import record
    from citygrid.models import AuditEvent
    from incidents import intake
    from incidents.models import CaseLog
    from tests.conftest import point_in

    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="inspector"),
                         reporter=people["inspector"]).case
    entry = CaseLog.objects.filter(case=case).first()
    event = record("login", username="someone")
    with connection.cursor() as cur:
        for table, column, pk in (("incidents_caselog", "note", entry.pk), ("citygrid_auditevent", "detail", event.pk)):
            message = _refused(cur, f"UPDATE {table} SET {column} = 'x' WHERE id = %s", [pk])
            assert f"permission denied for table {table}" in message
            _refused(cur, f"DELETE FROM {table} WHERE id = %s", [pk])
            _refused(cur, f"DELETE FROM {table}")
    assert CaseLog.objects.filter(pk=entry.pk).exists() and AuditEvent.objects.filter(pk=event.pk).exists()
    # Nor may it go round the ORM to the owner's rights.
    with connection.cursor() as cur:
        _refused(cur, f'SET ROLE "{dbroles.role_name(dbroles.OWNER)}"')


def test_the_runtime_role_cannot_create_roles_databases_extensions_or_read_pg_authid():
    conn = dbroles.connect(dbroles.RUNTIME, autocommit=True)  # CREATE DATABASE refuses a transaction
    try:
        with conn.cursor() as cur:
            for statement in ("CREATE ROLE probe_role", "CREATE DATABASE probe_db",
                              "CREATE EXTENSION hstore",  # trusted: needs CREATE on the database
                              "CREATE EXTENSION adminpack",  # untrusted: needs a superuser
                              "CREATE SCHEMA probe", "CREATE TABLE public.probe (id integer)",
                              "SELECT rolpassword FROM pg_authid", "ALTER ROLE CURRENT_USER CREATEDB",
                              f'GRANT "{dbroles.role_name(dbroles.OWNER)}" TO CURRENT_USER',
                              "COPY (SELECT 1) TO PROGRAM 'true'", "SELECT pg_read_file('/etc/passwd')"):
                with pytest.raises(psycopg2.Error) as caught:
                    cur.execute(statement)
                assert caught.value.pgcode == INSUFFICIENT_PRIVILEGE, f"{statement}: {caught.value}"
    finally:
        conn.close()


def _events(cur, ages: list[int]) -> dict[int, int]:
    ids = {}
    for days in ages:
        cur.execute("INSERT INTO citygrid_auditevent (at, username, action, target, result, detail) "
                    "VALUES (%s, 'probe', 'login', '', 'ok', '') RETURNING id", [timezone.now() - timedelta(days=days)])
        ids[days] = cur.fetchone()[0]
    return ids


def _left(cur, ids: dict[int, int]) -> set[int]:
    cur.execute("SELECT id FROM citygrid_auditevent WHERE id = ANY(%s)", [list(ids.values())])
    present = {pk for (pk,) in cur.fetchall()}
    return {days for days, pk in ids.items() if pk in present}


@pytest.fixture
def owner_retention():
    """Set the retention the database holds, as the owner (only it may shorten it); back to 180 after."""
    conn = dbroles.connect(dbroles.OWNER, autocommit=True)

    def set_days(days: int) -> None:
        with conn.cursor() as cur:
            cur.execute("UPDATE citygrid_audit_retention SET days = %s WHERE id = 1", [days])

    yield set_days
    set_days(180)
    conn.close()


def test_the_purge_function_deletes_only_what_is_past_retention_whatever_it_is_given(owner_retention):
    owner_retention(400)
    conn = dbroles.connect(dbroles.RUNTIME)
    try:
        with conn.cursor() as cur:
            ids = _events(cur, [10, 170, 200, 300, 500])
            for hostile in (None, -1, 0, 179, 2**31 - 1, 2**31, "180 days",
                            "180); DELETE FROM citygrid_auditevent; --"):
                cur.execute("SAVEPOINT s")
                with pytest.raises(psycopg2.Error):
                    cur.execute("SELECT * FROM citygrid_audit_purge(%s)", [hostile])
                cur.execute("ROLLBACK TO SAVEPOINT s")
                assert _left(cur, ids) == {10, 170, 200, 300, 500}, hostile
            # A temporary table of the caller's cannot stand in for the retention or the trail.
            cur.execute("SAVEPOINT s")
            cur.execute("CREATE TEMP TABLE citygrid_audit_retention (id integer, days integer)")
            cur.execute("INSERT INTO citygrid_audit_retention VALUES (1, 0)")
            cur.execute("SET LOCAL search_path = pg_temp, public")
            cur.execute("SELECT * FROM public.citygrid_audit_purge(180)")
            assert cur.fetchone() == (1, 400)
            assert _left(cur, ids) == {10, 170, 200, 300}
            cur.execute("ROLLBACK TO SAVEPOINT s")
            # Asked for 180 days it keeps the 400 the database holds: only the 500-day-old event goes.
            cur.execute("SELECT * FROM citygrid_audit_purge(180)")
            assert cur.fetchone() == (1, 400) and _left(cur, ids) == {10, 170, 200, 300}
            # Asked for more it keeps more, and the database holds the longer period from then on.
            cur.execute("SELECT * FROM citygrid_audit_purge(100000)")
            assert cur.fetchone() == (0, 100000) and _left(cur, ids) == {10, 170, 200, 300}
            cur.execute("SELECT days FROM citygrid_audit_retention")
            assert cur.fetchone() == (100000,)
        conn.rollback()
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True)
def test_the_owner_is_held_by_the_append_only_triggers(people):
    from incidents import intake
    from tests.conftest import point_in

    lon, lat = point_in(people["a"])
    intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="inspector"), reporter=people["inspector"])
    conn = dbroles.connect(dbroles.OWNER)
    try:
        with conn.cursor() as cur:
            ids = _events(cur, [10, 200])
            for statement, params in (("UPDATE citygrid_auditevent SET detail = 'x' WHERE id = %s", [ids[10]]),
                                      ("DELETE FROM citygrid_auditevent WHERE id = %s", [ids[10]]),
                                      ("UPDATE incidents_caselog SET note = 'x'", None),
                                      ("DELETE FROM incidents_caselog", None)):
                cur.execute("SAVEPOINT s")
                with pytest.raises(psycopg2.Error, match="append-only"):
                    cur.execute(statement, params)
                cur.execute("ROLLBACK TO SAVEPOINT s")
            cur.execute("DELETE FROM citygrid_auditevent WHERE id = %s", [ids[200]])  # past retention: allowed
            assert _left(cur, ids) == {10}
        conn.rollback()
    finally:
        conn.close()


def test_the_backup_role_only_reads():
    conn = dbroles.connect(dbroles.BACKUP)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM citygrid_auditevent")
            cur.execute("SELECT last_value FROM incidents_case_number_seq")
            for statement in ("INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())",
                              "DELETE FROM citygrid_auditevent", "TRUNCATE grids_cell",
                              "SELECT nextval('incidents_case_number_seq')"):
                cur.execute("SAVEPOINT s")
                with pytest.raises(psycopg2.Error) as caught:
                    cur.execute(statement)
                assert caught.value.pgcode == INSUFFICIENT_PRIVILEGE, statement
                cur.execute("ROLLBACK TO SAVEPOINT s")
    finally:
        conn.close()


def _check_grants() -> list[str]:
    try:
        call_command("check_grants")
    except CommandError:
        with connection.cursor() as cur:
            return dbroles.differences(cur)
    return []


def test_check_grants_lists_the_tables_whose_grants_differ_and_new_tables_get_the_declared_ones():
    owner = dbroles.connect(dbroles.OWNER, autocommit=True)
    admin = dbroles.connect(dbroles.ADMIN, autocommit=True)
    runtime = dbroles.role_name(dbroles.RUNTIME)
    try:
        with owner.cursor() as cur:
            # As a later migration would: the default privileges give the new table the declared grants.
            cur.execute("CREATE TABLE probe_new (id bigint GENERATED BY DEFAULT AS IDENTITY, x integer)")
            assert _check_grants() == []
            cur.execute(f'GRANT TRUNCATE ON probe_new TO "{runtime}"')
            cur.execute(f'GRANT UPDATE ON incidents_caselog TO "{runtime}"')
            cur.execute("GRANT SELECT ON citygrid_auditevent TO PUBLIC")
        with admin.cursor() as cur:
            cur.execute("CREATE TABLE probe_admins (id integer)")  # made outside the roles: not the owner's
        problems = _check_grants()
        assert any(p.startswith("probe_new: the runtime role may SELECT, INSERT, UPDATE, DELETE, TRUNCATE;")
                   for p in problems), problems
        assert any(p.startswith("incidents_caselog: the runtime role may SELECT, INSERT, UPDATE;") for p in problems)
        assert "citygrid_auditevent: also granted to PUBLIC" in problems
        assert any(p.startswith("probe_admins: owned by") for p in problems)
        with owner.cursor() as cur:  # what migrate does after every run
            assert {"probe_new", "incidents_caselog", "citygrid_auditevent"} <= set(dbroles.apply_grants(cur))
        problems = _check_grants()
        assert problems and all(p.startswith("probe_admins:") for p in problems), problems
    finally:
        with admin.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS probe_admins")
            cur.execute("DROP TABLE IF EXISTS probe_new")
        with owner.cursor() as cur:
            dbroles.apply_grants(cur)
        owner.close()
        admin.close()
    assert _check_grants() == []


def test_a_database_made_before_the_roles_is_converted_keeping_its_data():
    name = f"{dbroles.database_name()}_legacy"
    admin = dbroles.connect(dbroles.ADMIN, "postgres", autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cur.execute(f'CREATE DATABASE "{name}"')  # owned by the administrator, as `make` made them
        legacy = dbroles.connect(dbroles.ADMIN, name, autocommit=True)
        with legacy.cursor() as cur:
            cur.execute("CREATE TABLE things (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, x integer)")
            cur.execute("INSERT INTO things (x) SELECT generate_series(1, 100)")
            cur.execute("CREATE SEQUENCE numbers")
            cur.execute("CREATE VIEW big_things AS SELECT * FROM things WHERE x > 50")
            cur.execute("CREATE FUNCTION twice(integer) RETURNS integer LANGUAGE sql AS 'SELECT 2 * $1'")
        legacy.close()
        done = dbroles.create_database(name)
        owner = dbroles.role_name(dbroles.OWNER)
        assert f"database {name}: 4 objects given to the owner role {owner}" in done
        assert dbroles.create_database(name) == []  # a second run changes nothing
        conn = dbroles.connect(dbroles.OWNER, name)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), sum(x) FROM big_things")
            assert cur.fetchone() == (50, sum(range(51, 101)))
            cur.execute("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = "
                        "'public'::regnamespace AND relname IN ('things', 'things_id_seq', 'numbers', 'big_things')")
            assert cur.fetchall() == [(owner,)]
            cur.execute("SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'twice'")
            assert cur.fetchone() == (owner,)
            cur.execute("INSERT INTO things (x) VALUES (1) RETURNING id")  # the identity goes on
            assert cur.fetchone() == (101,)
        conn.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
