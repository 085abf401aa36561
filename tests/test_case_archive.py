"""Old months of cases into the archive (incidents/migrations/0017_case_archive.py, `manage.py archive_cases`,
README "Growth"): whole case families leave — the months' partitions detached, their later steps, callbacks,
escalations and their notified users moved, an alarm episode's link emptied and written down, the keys last —
in one transaction; the live months, the tallies and the foreign keys stay whole; the runtime role reads nothing of
it; and what cannot go is refused with one line, nothing moved."""

import io
from datetime import timedelta

import psycopg2
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection
from django.utils import timezone

from citygrid.audit import AuditEvent
from citygrid.dbroles import BACKUP, OWNER, RUNTIME, connect, role_name
from dispatch.history import generate_history
from dispatch.models import Escalation
from incidents import archive
from incidents.archive import ArchiveError, archive_through
from incidents.models import Callback, Case, CaseLog
from tests.conftest import api_client
from tests.test_cases_api import create

pytestmark = pytest.mark.django_db(transaction=True)


def _month(offset: int):
    first = timezone.localdate().replace(day=1)
    y, m = divmod(first.month - 1 + offset, 12)
    return first.replace(year=first.year + y, month=m + 1)


def _owner_rows(sql: str, params=()) -> list[tuple]:
    conn = connect(OWNER, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def _count(sql: str) -> int:
    with connection.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


@pytest.fixture
def months(people):
    """Three months ago, settled (every case closed; the last ones close in the month after), and last month
    live (cases still open)."""
    old, live = _month(-3), _month(-1)
    # reported in the month's last three days: the last cases close in the month after
    start = timezone.make_aware(timezone.datetime.combine(_month(-2), timezone.datetime.min.time())) - timedelta(days=3)
    generate_history(120, start, int(2.5 * 86400), "AR", settled=True)
    generate_history(60, timezone.make_aware(timezone.datetime(live.year, live.month, 3)), 10 * 86400, "LV")
    yield {"old": old, "live": live, "people": people}
    _owner_rows("DROP SCHEMA IF EXISTS archive CASCADE; SELECT 1")  # the archive outlives the tests' flush


def _tallies() -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute("SELECT day, district_id, major_id, sum(reported), sum(closed), sum(processed) "
                    "FROM dispatch_dailytally GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
        daily = cur.fetchall()
        cur.execute("SELECT day, district_id, major_id, deadline_day, sum(n) FROM dispatch_duetally "
                    "GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4")
        return daily + cur.fetchall()


def test_a_settled_month_leaves_whole_and_the_live_ones_stay_whole(months):
    old, people = months["old"], months["people"]
    family = list(Case.objects.filter(number__startswith="AR").order_by("id"))
    assert len(family) == 120 and all(not c.is_open for c in family)
    ids = [c.id for c in family]
    steps = CaseLog.objects.filter(case_id__in=ids).count()
    month_after = timezone.make_aware(timezone.datetime.combine(_month(-2), timezone.datetime.min.time()))
    later_steps = CaseLog.objects.filter(case_id__in=ids, created_at__gte=month_after).count()
    live_cases, live_steps = Case.objects.exclude(id__in=ids).count(), CaseLog.objects.exclude(case_id__in=ids).count()
    # what belongs to an archived case: a callback (append-only), an escalation with its notified users
    first = family[0]
    Callback.objects.create(case=first, work_case=first, operator=people["operator"], reached=True,
                            satisfaction="satisfied", district_id=first.district_id)
    esc = Escalation.objects.create(case=first, level="warning", deadline=first.created_at + timedelta(days=1))
    esc.notified.set([people["dispatcher"]])
    before = _tallies()

    # the month through which to archive is the settled one; the month after holds only live cases' steps … and the
    # settled cases' last steps, which move row by row
    done = archive_through(old)
    assert done.cases == 120
    moved: dict[str, int] = {}
    for table, n in done.moved:  # a table may come twice: once for each of its keys pointing at a case
        moved[table] = moved.get(table, 0) + n
    assert moved["incidents_casekey"] == 120 and moved["incidents_callback"] >= 1
    assert moved["dispatch_escalation"] == 1 and moved["dispatch_escalation_notified"] == 1
    assert moved["incidents_caselog"] == later_steps > 0

    # gone from the live tables, whole in the archive
    assert not Case.objects.filter(id__in=ids).exists() and not CaseLog.objects.filter(case_id__in=ids).exists()
    assert _count(f"SELECT count(*) FROM incidents_casekey WHERE id IN ({','.join(map(str, ids))})") == 0
    m = f"{old:%Y%m}"
    arch = dict(_owner_rows(
        f"SELECT 'cases', count(*) FROM archive.incidents_case_p{m} UNION ALL "
        f"SELECT 'steps', (SELECT count(*) FROM archive.incidents_caselog_p{m}) + "
        "                (SELECT count(*) FROM archive.incidents_caselog) UNION ALL "
        "SELECT 'keys', count(*) FROM archive.incidents_casekey UNION ALL "
        "SELECT 'callbacks', count(*) FROM archive.incidents_callback UNION ALL "
        "SELECT 'notified', count(*) FROM archive.dispatch_escalation_notified"))
    assert arch == {"cases": 120, "steps": steps, "keys": 120, "callbacks": 1, "notified": 1}
    # the live months untouched, the tallies as they were (a month's figures outlive its cases), every foreign key
    # and the log's append-only rule in force
    assert Case.objects.count() == live_cases and CaseLog.objects.count() == live_steps
    assert _tallies() == before
    rows = _owner_rows("SELECT count(*) FROM pg_constraint WHERE conrelid = 'incidents_casekey'::regclass "
                       "AND contype = 'f' AND conparentid = 0 AND convalidated")
    assert rows == [(1,)]
    rows = _owner_rows("SELECT count(*) FROM pg_trigger WHERE tgenabled = 'D' AND tgrelid IN "
                       "('incidents_caselog'::regclass, 'incidents_callback'::regclass)")
    assert rows == [(0,)]
    with pytest.raises(psycopg2.Error, match="append-only"):  # even the owner, once more
        _owner_rows("DELETE FROM incidents_caselog WHERE id = (SELECT min(id) FROM incidents_caselog) RETURNING id")
    # the runtime role reads nothing of it
    with pytest.raises(DatabaseError, match="permission denied"), connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM archive.incidents_case_p{old:%Y%m}")
    # the backups read it (pg_dump as the backup role)
    conn = connect(BACKUP)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM archive.incidents_case_p{old:%Y%m}")
            assert cur.fetchone()[0] == 120
    finally:
        conn.close()
    listed = io.StringIO()
    call_command("archive_cases", list=True, stdout=listed)
    assert listed.getvalue().splitlines() == [f"{old:%Y-%m}  120 cases"]
    # as declared: check_grants (the set-up's gate) looks at the archive too
    call_command("check_grants")
    runtime = role_name(RUNTIME)
    _owner_rows(f'GRANT USAGE ON SCHEMA archive TO "{runtime}"; SELECT 1')
    said = io.StringIO()
    with pytest.raises(CommandError, match="1 differences"):
        call_command("check_grants", stderr=said)
    assert f"archive: the runtime role {runtime} may use the schema of archived cases" in said.getvalue()
    _owner_rows(f'REVOKE USAGE ON SCHEMA archive FROM "{runtime}"; SELECT 1')
    # the audit trail says who archived what
    connection.close()
    assert AuditEvent.objects.filter(action="cases_archive", target=f"month: {old:%Y-%m}").exists()
    with pytest.raises(ArchiveError, match="no month of cases"):
        archive_through(old)


def test_what_cannot_go_is_refused_in_one_line_and_nothing_moves(months):
    old, live = months["old"], months["live"]
    cases, steps = Case.objects.count(), CaseLog.objects.count()
    # a month not over, a month with open cases
    with pytest.raises(CommandError, match="a month that is over"):
        call_command("archive_cases", through=f"{timezone.localdate():%Y-%m}")
    with pytest.raises(CommandError, match=r"not finished \(e\.g\. LV"):
        call_command("archive_cases", through=f"{live:%Y-%m}")
    # a later case merged into a case of the month: it would point into the archive
    target = Case.objects.filter(number__startswith="AR").first()
    later = Case.objects.filter(number__startswith="LV").first()
    _owner_rows("UPDATE incidents_case SET merged_into_id = %s WHERE id = %s RETURNING id", [target.id, later.id])
    with pytest.raises(CommandError, match=f"case {later.number} was merged into a case reported through"):
        call_command("archive_cases", through=f"{old:%Y-%m}")
    _owner_rows("UPDATE incidents_case SET merged_into_id = NULL WHERE id = %s RETURNING id", [later.id])
    # a live case's callback judging an archived case's work belongs to both: it stays, so the month does
    callback = Callback.objects.create(case=later, work_case=target, operator=months["people"]["operator"],
                                       reached=False, district_id=later.district_id)
    with pytest.raises(CommandError, match=f"incidents_callback .case_id. belongs to case {later.number} too"):
        call_command("archive_cases", through=f"{old:%Y-%m}")
    assert Callback.objects.filter(pk=callback.pk).exists()
    assert Case.objects.count() == cases and CaseLog.objects.count() == steps
    assert not _owner_rows("SELECT 1 FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid "
                           "WHERE n.nspname = 'archive' AND c.relname LIKE 'incidents_case_p%%'")
    with pytest.raises(CommandError, match="not a month"):
        call_command("archive_cases", through="2026-13")


def test_an_alarm_episodes_link_to_an_archived_case_is_emptied_and_written_down(months):
    from monitoring.models import AlarmEpisode, Sensor, SensorKind

    target = Case.objects.filter(number__startswith="AR").first()
    kind = SensorKind.objects.first()
    if kind is None:
        kind = SensorKind.objects.create(code="manhole_level", name="井内液位", unit="m", physical_min=0,
                                         physical_max=10)
    sensor = Sensor.objects.create(code="YW-9001", kind=kind, position=target.location, owner=months["people"]["cg"])
    at = target.created_at
    episode = AlarmEpisode.objects.create(sensor=sensor, level="alarm", peak_level="alarm", direction="above",
                                          started_at=at, peak_value=2.9, peak_at=at, ended_at=at, case=target)
    archive_through(months["old"])
    episode.refresh_from_db()
    assert episode.case_id is None
    assert _owner_rows("SELECT tbl, row_id, col, value FROM archive.cleared_references") == [
        ("monitoring_alarmepisode", episode.id, "case_id", target.id)]


def test_something_still_open_on_a_case_keeps_its_month_and_a_month_made_again_joins_its_archive(months):
    from monitoring.models import AlarmEpisode, Sensor, SensorKind, Silence

    old = months["old"]
    target = Case.objects.filter(number__startswith="AR").order_by("id").first()
    kind = SensorKind.objects.first() or SensorKind.objects.create(
        code="manhole_level", name="井内液位", unit="m", physical_min=0, physical_max=10)
    sensor = Sensor.objects.create(code="YW-9002", kind=kind, position=target.location, owner=months["people"]["cg"])
    at = target.created_at
    episode = AlarmEpisode.objects.create(sensor=sensor, level="alarm", peak_level="alarm", direction="above",
                                          started_at=at, peak_value=2.9, peak_at=at, case=target)
    with pytest.raises(ArchiveError, match=f"1 alarm episode.s. still running .e.g. case {target.number}"):
        archive_through(old)
    episode.ended_at = at
    episode.save()
    silence = Silence.objects.create(sensor=sensor, started_at=at, case=target)
    with pytest.raises(ArchiveError, match="1 silent sensor.s. not heard again"):
        archive_through(old)
    silence.ended_at = at
    silence.save()
    # a case finished lately may still be called back
    _owner_rows("UPDATE incidents_case SET status_since = now() WHERE id = %s RETURNING id", [target.id])
    with pytest.raises(ArchiveError, match="finished in the last 30 days"):
        archive_through(old)
    _owner_rows("UPDATE incidents_case SET status_since = created_at + interval '2 days' WHERE id = %s RETURNING id",
                [target.id])
    first = archive_through(old).cases
    # the month made again (a history generated into it) and archived again: its rows join the archived month
    start = timezone.make_aware(timezone.datetime(old.year, old.month, 5))
    generate_history(10, start, 86400, "AS", settled=True)
    assert archive_through(old).cases == 10
    assert _owner_rows(f"SELECT count(*) FROM archive.incidents_case_p{old:%Y%m}") == [(first + 10,)]
    assert not Case.objects.filter(created_at__lt=start + timedelta(days=2)).exists()


def test_the_guards_cut_months_in_the_zone_the_archive_was_made_with(months, settings, monkeypatch):
    # TIME_ZONE changed after the migrations: the archive's function still cuts months in the zone it was made
    # with, and so must the guards that run before it (a guard here says which zone it saw).
    made_with = _owner_rows("SELECT split_part(c, '=', 2) FROM pg_proc p, unnest(p.proconfig) c "
                            "WHERE p.oid = 'incidents_archive_months(date)'::regprocedure "
                            "AND lower(c) LIKE 'timezone=%%'")
    assert made_with == [(settings.TIME_ZONE,)]
    settings.TIME_ZONE = "UTC" if settings.TIME_ZONE != "UTC" else "Asia/Shanghai"
    monkeypatch.setitem(archive.GUARDS, "zone probe", "SELECT 1, current_setting('TimeZone')")
    with pytest.raises(ArchiveError, match=rf"1 zone probe \(e\.g\. case {made_with[0][0]}\)"):
        archive_through(months["old"])


def test_the_keys_leave_after_the_move_in_batches_and_a_stopped_run_is_finished(months, monkeypatch):
    # The move's transaction leaves the keys written down (their deletes, checked against every month's partition,
    # once held reports for minutes); the batches move them after it. Stopped before the batches: the cases are
    # archived, their keys still live, a retry of one of their reports refused in a field message (not a 500), and
    # a live row that points at a key meanwhile stops the batch in one line, moving nothing it should not.
    people = months["people"]
    family = list(Case.objects.filter(number__startswith="AR").order_by("id"))
    ids = ",".join(str(c.id) for c in family)
    monkeypatch.setattr(archive, "finish_keys", lambda: (0, "stopped here by the test"))
    done = archive_through(months["old"])
    assert done.cases == 120 and done.unchecked == "stopped here by the test"
    assert not Case.objects.filter(number__startswith="AR").exists()
    assert _count(f"SELECT count(*) FROM incidents_casekey WHERE id IN ({ids})") == 120
    assert _owner_rows("SELECT count(*) FROM archive.pending_keys") == [(120,)]

    client = api_client(people["inspector"])
    retry = create(client, people, client_uuid=str(family[0].client_uuid))
    assert retry.status_code == 400
    assert "archived" in retry.json()["client_uuid"][0] or "归档" in retry.json()["client_uuid"][0]

    # a live row pointing at a written-down key (made in the gap): the batch holding it stops, in one line, and
    # moves nothing; the batches before it stay moved
    last = family[-1]
    _owner_rows("INSERT INTO dispatch_escalation (case_id, level, deadline, created_at) "
                "VALUES (%s, 'warning', now(), now()) RETURNING id", [last.id])
    monkeypatch.undo()
    moved, why = archive.finish_keys(batch=50)
    assert moved == 100 and "still pointed at from a live row" in why and "dispatch_escalation" in why
    assert _count(f"SELECT count(*) FROM incidents_casekey WHERE id IN ({ids})") == 20
    with pytest.raises(CommandError, match="0 keys moved, then stopped: an archived case's key is still pointed at"):
        call_command("archive_cases", finish=True)
    # the release before would never move them: going back to it is refused while they wait (the reverse's guard,
    # run alone: `migrate` back would first undo 0021 for good, and the tests after this one need it)
    import importlib
    guard = importlib.import_module("incidents.migrations.0020_case_archive_keys_later").REFUSE_WHILE_KEYS_WAIT
    with pytest.raises(psycopg2.Error, match="pending_keys holds 20 archived cases' keys still to move"):
        _owner_rows(guard.replace("%", "%%") + "; SELECT 1")
    _owner_rows("DELETE FROM dispatch_escalation WHERE case_id = %s RETURNING id", [last.id])
    said = io.StringIO()
    call_command("archive_cases", finish=True, stdout=said)
    assert said.getvalue().strip() == "20 keys moved; the keys' foreign key is checked"
    assert _count(f"SELECT count(*) FROM incidents_casekey WHERE id IN ({ids})") == 0
    assert _owner_rows("SELECT count(*) FROM archive.incidents_casekey") == [(120,)]
    assert _owner_rows("SELECT count(*) FROM archive.pending_keys") == [(0,)]
    assert _owner_rows("SELECT count(*) FROM pg_constraint WHERE conrelid = 'incidents_casekey'::regclass "
                       "AND contype = 'f' AND conparentid = 0 AND NOT convalidated") == [(0,)]
    # the report's client id is free again: a report with it makes a new case
    assert create(client, people, client_uuid=str(family[0].client_uuid)).status_code == 201


def test_the_move_does_not_deadlock_with_a_report_in_flight(months):
    # A report holds the cases (its case written) and then writes its log. The move once took the log as it went
    # and then waited for the cases: the two waited on each other until PostgreSQL killed one (seen in the growth
    # benchmark with reports coming in). Now the move takes the three tables at once, letting go while one is
    # busy: the report finishes, then the move does.
    import threading

    report = connect(RUNTIME)
    try:
        with report.cursor() as cur:
            cur.execute("SET lock_timeout = '10s'")
            cur.execute("LOCK TABLE incidents_case IN ROW EXCLUSIVE MODE")  # its case written, not committed
            outcome: dict = {}
            mover = threading.Thread(target=lambda: outcome.update(done=_archive_in_thread(months["old"])))
            mover.start()
            time_waited = _wait_until_waiting_for_locks(report)
            cur.execute("LOCK TABLE incidents_caselog IN ROW EXCLUSIVE MODE")  # then its log: not stuck
        report.commit()
        mover.join(60)
        assert not mover.is_alive() and time_waited is not None
        assert outcome["done"].cases == 120 and not outcome["done"].unchecked
    finally:
        report.close()


def _archive_in_thread(through):
    try:
        return archive_through(through)
    finally:
        connection.close()  # the thread's own connection


def _wait_until_waiting_for_locks(report) -> float | None:
    """Until the move asks for a lock the report holds (seen from another session), or 20 s."""
    import time

    started = time.monotonic()
    watch = connect(OWNER, autocommit=True)
    try:
        with watch.cursor() as cur:
            while time.monotonic() - started < 20:
                cur.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = "
                            "'incidents_case'::regclass")
                if cur.fetchone()[0]:
                    return time.monotonic() - started
                time.sleep(0.05)
    finally:
        watch.close()
    return None
