"""Statements prepared once per connection (citygrid.prepared), as the hot paths of every report use them: the
token look-up, the client id look-up, locating, the report's three rows."""

import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from citygrid import prepared
from citygrid.models import AuditEvent
from incidents import intake
from incidents.models import Case, CaseLog
from tests.conftest import point_in

pytestmark = pytest.mark.django_db(transaction=True)


def on_connection() -> set[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cur.fetchall()}


def test_a_statement_is_prepared_once_and_runs_with_its_parameters():
    sql, named = "SELECT %s::int + %s::int, '100%%'", "SELECT %(a)s::int * %(b)s::int + %(a)s::int"
    before = on_connection()
    with connection.cursor() as cur:
        statement, params = prepared.execute_sql(cur, sql, [2, 3])
        assert statement.startswith("EXECUTE cg_") and params == [2, 3]
        cur.execute(statement, params)
        assert cur.fetchone() == (5, "100%")
        prepared.execute(cur, sql, [4, 5])
        assert cur.fetchone() == (9, "100%")
        # Named parameters, one of them twice: each becomes one $n.
        prepared.execute(cur, named, {"a": 3, "b": 4, "unused": 0})
        assert cur.fetchone() == (15,)
    assert on_connection() - before == {prepared._parsed(sql)[0], prepared._parsed(named)[0]}


def test_wrong_parameters_are_refused_before_anything_is_sent():
    before = on_connection()
    with connection.cursor() as cur, pytest.raises(ValueError, match="2 parameters expected, 1 given"):
        prepared.execute(cur, "SELECT %s::int + %s::int", [1])
    with connection.cursor() as cur, pytest.raises(ValueError, match="not both"):
        prepared.execute(cur, "SELECT %s::int + %(a)s::int", [1])
    assert on_connection() == before


def test_statements_the_server_no_longer_holds_or_that_changed_type_are_made_again():
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE prepared_probe (v int); INSERT INTO prepared_probe VALUES (7)")
        prepared.execute(cur, "SELECT v FROM prepared_probe WHERE %s", [True])
        assert cur.fetchone() == (7,)
        cur.execute("DEALLOCATE ALL")  # behind this process's back (as a pooler or DISCARD ALL would)
        prepared.execute(cur, "SELECT v FROM prepared_probe WHERE %s", [True])
        assert cur.fetchone() == (7,)
        cur.execute("ALTER TABLE prepared_probe ALTER v TYPE text")  # the result changes type (a migration)
        prepared.execute(cur, "SELECT v FROM prepared_probe WHERE %s", [True])
        assert cur.fetchone() == ("7",)
        # Inside a transaction the failure spoils it: said, and made good at the next use.
        cur.execute("DEALLOCATE ALL")
        with pytest.raises(DatabaseError, match="does not exist"), transaction.atomic():
            prepared.execute(cur, "SELECT v FROM prepared_probe WHERE %s", [True])
        prepared.execute(cur, "SELECT v FROM prepared_probe WHERE %s", [True])
        assert cur.fetchone() == ("7",)


def test_a_rollback_keeps_the_statement_and_a_new_connection_prepares_again():
    sql = "SELECT %s::text || '!'"
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        prepared.execute(cur, sql, ["a"])
        cur.execute("SELECT 1/0")
    with connection.cursor() as cur:  # prepared in the rolled-back transaction, still there: not prepared again
        prepared.execute(cur, sql, ["b"])
        assert cur.fetchone() == ("b!",)
    connection.close()
    assert not any(n.startswith("cg_") for n in on_connection())
    with connection.cursor() as cur:
        prepared.execute(cur, sql, ["c"])
        assert cur.fetchone() == ("c!",)


def test_a_report_uses_its_prepared_statements_and_a_second_one_prepares_nothing(people):
    def report() -> intake.Report:
        lon, lat = point_in(people["a"])
        return intake.Report(lon=lon, lat=lat, category="SJ0601", source="inspector", client_uuid=uuid.uuid4())

    first = intake.submit(report(), reporter=people["inspector"])
    names = on_connection()
    texts = [text for _name, text in _texts()]
    assert any('INSERT INTO "incidents_case"' in t for t in texts)
    assert any("FROM incidents_casekey" in t for t in texts)
    second = intake.submit(report(), reporter=people["inspector"])
    assert on_connection() == names
    # The number each report was answered with is the one stored, and the one its audit record names.
    for result in (first, second):
        stored = Case.objects.get(pk=result.case.pk)
        assert stored.number == result.case.number
        assert AuditEvent.objects.filter(action="case_report", target=f"case: {stored.number}").count() == 1
        assert CaseLog.objects.get(case_id=stored.pk, action="report").note == ""
    assert first.case.number != second.case.number


def _texts() -> list[tuple[str, str]]:
    with connection.cursor() as cur:
        cur.execute("SELECT name, statement FROM pg_prepared_statements")
        return cur.fetchall()
