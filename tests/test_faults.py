"""Faults on the real stack: the database connection lost in the middle of an intake, Redis down, the
scheduler run twice at once (as after a restart mid-run)."""

import json
import threading
import time
import urllib.error
import urllib.request
import uuid

import psycopg2
import pytest
from django.db import connection

from citygrid.models import ApiToken
from incidents.models import Case, CaseLog
from tests.conftest import point_in

pytestmark = pytest.mark.django_db(transaction=True)


def _post(url: str, key: str, body: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Token {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def _connect():
    settings_dict = connection.settings_dict
    return psycopg2.connect(dbname=settings_dict["NAME"], host=settings_dict["HOST"] or None,
                            user=settings_dict["USER"] or None, port=settings_dict["PORT"] or None)


def test_database_connection_lost_mid_intake_gives_503_and_the_retry_one_case(live_server, people):
    _, key = ApiToken.issue(people["inspector"], "faults")
    lon, lat = point_in(people["a"])
    report = {"client_uuid": str(uuid.uuid4()), "lon": lon, "lat": lat, "category": "SJ0601",
              "description": "断网测试"}
    blocker, watcher = _connect(), _connect()
    watcher.autocommit = True  # pg_stat_activity is a snapshot per transaction: look afresh each time
    cur = blocker.cursor()
    # Hold the case table so the server's intake waits inside its transaction, then cut its connection.
    cur.execute("LOCK TABLE incidents_case IN ACCESS EXCLUSIVE MODE")
    result = {}
    sender = threading.Thread(target=lambda: result.update(first=_post(live_server.url + "/api/cases/", key,
                                                                        report)))
    sender.start()
    killed = 0
    for _ in range(100):
        look = watcher.cursor()
        look.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'")
        killed = look.rowcount
        if killed:
            break
        time.sleep(0.05)
    blocker.rollback()
    blocker.close()
    watcher.close()
    sender.join(30)
    assert killed == 1, result
    status, body, headers = result["first"]
    assert status == 503 and "client_uuid" in body["detail"] and headers.get("Retry-After") == "5"
    assert "Traceback" not in json.dumps(body) and "SELECT" not in json.dumps(body)
    assert not Case.objects.filter(client_uuid=report["client_uuid"]).exists()  # nothing half written

    status, body, _ = _post(live_server.url + "/api/cases/", key, report)
    assert status == 201
    again, body2, _ = _post(live_server.url + "/api/cases/", key, report)
    assert again == 200 and body2["id"] == body["id"]
    case = Case.objects.get(client_uuid=report["client_uuid"])
    assert CaseLog.objects.filter(case=case).count() >= 1


def test_readyz_answers_503_when_the_database_is_unreachable():
    """A server whose database does not answer is up (/healthz) but not ready (/readyz 503): what a load
    balancer and the supervisor act on. (Redis down: tests/test_audit.py.)"""
    import http.client

    from tests.servers import gunicorn

    with gunicorn(DATABASE_URL="postgis://citygrid_app@127.0.0.1:1/citygrid") as port:
        for path, expected in (("/healthz", 200), ("/readyz", 503)):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            assert response.status == expected, (path, response.status)
        assert json.loads(body)["database"] == "down"


def test_the_watch_run_twice_at_once_escalates_once(people):
    """As when the scheduler is restarted while a run is under way: two runs overlap."""
    import importlib
    from datetime import timedelta

    from django.apps import apps
    from django.db import connections
    from django.utils import timezone

    from dispatch.models import Escalation
    from dispatch.watch import run_once
    from incidents import intake

    for module in ("0002_calendar_data", "0007_stage_limits"):  # data a transactional test's flush removed
        importlib.import_module(f"dispatch.migrations.{module}").load(apps, None)
    lon, lat = point_in(people["a"])
    cases = [intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="hotline_12345")).case
             for _ in range(5)]
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(status_since=timezone.now() - timedelta(days=30))
    barrier = threading.Barrier(2)
    counts = []

    def run():
        barrier.wait()
        try:
            counts.append(run_once())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(c["escalated"] for c in counts) == 5  # each case once, whichever run got there first
    assert run_once()["escalated"] == 0  # and a run after the "restart" adds nothing
    per_case_level = Escalation.objects.values_list("case_id", "level", "deadline")
    assert len(per_case_level) == len(set(per_case_level)) > 0


@pytest.mark.django_db(transaction=True)
def test_exactly_one_scheduler_acts_and_another_takes_over_when_it_is_killed(db):
    """Two schedulers started (two web hosts): one acts, the other stands by; SIGKILL the active one in the
    middle of its work and the other takes over within seconds."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from dispatch.models import Heartbeat
    from tests.servers import database_url

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "DATABASE_URL": database_url(), "WATCH_INTERVAL_SECONDS": "1",
           "SCHEDULER_STANDBY_SECONDS": "0.5", "LOG_LEVEL": "INFO"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    logs = [Path(root / "var" / f"scheduler-test-{i}-{os.getpid()}.log") for i in range(2)]
    for log in logs:
        log.parent.mkdir(exist_ok=True)
    procs = [subprocess.Popen([sys.executable, str(root / "manage.py"), "run_scheduler"], cwd=root, env=env,
                              stdout=log.open("w"), stderr=subprocess.STDOUT) for log in logs]

    def active() -> list[int]:
        return [i for i, log in enumerate(logs) if "scheduler: active" in log.read_text()]

    def wait_for(condition, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, [log.read_text()[-2000:] for log in logs]
            time.sleep(0.2)

    try:
        wait_for(lambda: active() and any("standing by" in log.read_text() for log in logs))
        time.sleep(3)  # several watch intervals: still exactly one active
        [first] = active()
        wait_for(lambda: Heartbeat.objects.filter(name="scheduler").exists())
        procs[first].send_signal(signal.SIGKILL)
        procs[first].wait()
        killed_at = time.monotonic()
        wait_for(lambda: len(active()) == 2, seconds=15)
        assert time.monotonic() - killed_at < 10
        before = Heartbeat.objects.get(name="scheduler").beat_at
        wait_for(lambda: Heartbeat.objects.get(name="scheduler").beat_at > before)  # the new one works
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
        for log in logs:
            log.unlink(missing_ok=True)
