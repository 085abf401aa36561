import pytest
from django.db import connection, transaction
from django.urls import reverse

from citygrid.models import AuditEvent
from tests.conftest import api_client


def test_logins_and_failures_are_recorded(client, dispatcher):
    client.post(reverse("login"), {"username": "disp", "password": "wrong-password"})
    client.post(reverse("login"), {"username": "disp", "password": "Correct-horse-42"}, REMOTE_ADDR="10.1.2.3")
    client.post(reverse("logout"))
    events = list(AuditEvent.objects.exclude(action="role_change").order_by("id")
                  .values_list("action", "result", "username"))
    assert events == [("login", "failed", "disp"), ("login", "ok", "disp"), ("logout", "ok", "disp")]
    assert AuditEvent.objects.get(action="login", result="ok").ip == "10.1.2.3"


def test_denials_and_exports_are_recorded(people):
    api_client(people["inspector"]).get(reverse("dispatch:evaluation"), {"dimension": "bureau"})
    api_client(people["leader"]).post(reverse("incidents:case-list"), {}, format="json")
    denied = AuditEvent.objects.filter(action="permission_denied")
    assert {e.username for e in denied} == {"insp", "lead"}
    api_client(people["operator"]).get(reverse("incidents:case-export"), {"as": "csv", "status": "reported"})
    export = AuditEvent.objects.get(action="export")
    assert export.username == "oper" and "status=reported" in export.detail


def test_the_trail_cannot_be_changed_or_erased(dispatcher):
    from citygrid.audit import record

    event = record("login", user=dispatcher)
    for sql in ("UPDATE citygrid_auditevent SET result = 'x' WHERE id = %s",
                "DELETE FROM citygrid_auditevent WHERE id = %s"):
        # The runtime role is not granted either; the owner meets the trigger (tests/test_dbroles.py).
        with pytest.raises(Exception, match="permission denied"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).result == "ok"


def test_admin_changes_are_recorded(client, people):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", password="Correct-horse-42"))
    client.post(reverse("admin:grids_bureau_add"), {"code": "X-1", "name": "新部门", "kind": "other", "active": "on"})
    assert AuditEvent.objects.filter(action="admin_add", username="root", target__contains="新部门").exists()


def test_idle_sessions_end_after_30_minutes_and_activity_keeps_them(client, dispatcher, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    real_now = timezone.now
    start = real_now()

    def at(minutes: int) -> None:  # every clock the session machinery reads moves together
        monkeypatch.setattr(timezone, "now", lambda: start + timedelta(minutes=minutes))

    client.force_login(dispatcher)
    for minute in (0, 29, 58, 87):  # a request every 29 minutes keeps the session for an hour and a half
        at(minute)
        assert client.get("/map/").status_code == 200, minute
    at(87 + 31)  # then 31 minutes without a request
    response = client.get("/map/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_failed_logins_lock_out_the_name_from_that_address_until_the_security_admin_unlocks(
        client, dispatcher, settings):
    from axes.models import AccessAttempt

    from citygrid import roles
    from tests.conftest import make_user

    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post(reverse("login"), {"username": "disp", "password": "wrong-password"}, REMOTE_ADDR="10.0.0.9")
    locked = client.post(reverse("login"), {"username": "disp", "password": "Correct-horse-42"},
                         REMOTE_ADDR="10.0.0.9")  # the right password, from the address that guessed
    assert locked.status_code == 429 and "失败次数过多" in locked.content.decode()
    assert AuditEvent.objects.filter(action="login", result="failed", username="disp").count() >= 3
    # The owner, from his own desk, is not locked out by someone else's guessing (nor is it a failure).
    elsewhere = client.post(reverse("login"), {"username": "disp", "password": "Correct-horse-42"},
                            REMOTE_ADDR="10.0.0.8")
    assert elsewhere.status_code == 302
    client.post(reverse("logout"))
    # The security administrator unlocks in the admin: Axes › access attempts, delete.
    sec = make_user("sec", roles.SECADMIN)
    sec.is_staff = True
    sec.save()
    client.force_login(sec)
    attempts = list(AccessAttempt.objects.filter(username="disp").values_list("pk", flat=True))
    unlocked = client.post(reverse("admin:axes_accessattempt_changelist"),
                           {"action": "delete_selected", "_selected_action": attempts, "post": "yes"})
    assert unlocked.status_code == 302 and not AccessAttempt.objects.filter(username="disp").exists()
    client.post(reverse("logout"))
    ok = client.post(reverse("login"), {"username": "disp", "password": "Correct-horse-42"}, REMOTE_ADDR="10.0.0.9")
    assert ok.status_code == 302


def test_an_address_guessing_many_names_is_locked_out(client, dispatcher, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for name in ("alice", "bob", "carol"):
        client.post(reverse("login"), {"username": name, "password": "wrong-password"}, REMOTE_ADDR="10.0.0.7")
    locked = client.post(reverse("login"), {"username": "disp", "password": "Correct-horse-42"},
                         REMOTE_ADDR="10.0.0.7")
    assert locked.status_code == 429


def test_check_deploy_is_clean_in_production_settings():
    import os
    import secrets
    import subprocess
    import sys
    from pathlib import Path

    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}, "DEBUG": "0",
           "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "citygrid.example.gov.cn"}
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, str(root / "manage.py"), "check", "--deploy"], env=env, cwd=root,
                         capture_output=True, text=True)
    text = out.stdout + out.stderr
    assert out.returncode == 0 and "System check identified no issues" in text, text


def test_password_rules():
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    for weak in ("short1A!", "abcdefghijk", "12345678901", "password123", "citygridcitygrid"):
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("Xiangtan-demo-2026")
    validate_password("湘潭Grid-2026x")


def test_initial_passwords_must_be_changed_outside_debug(client, dispatcher, settings):
    from citygrid.models import StaffProfile

    settings.FORCE_PASSWORD_CHANGE = True
    StaffProfile.objects.filter(user=dispatcher).update(must_change_password=True)
    client.force_login(dispatcher)
    response = client.get("/map/")
    assert response.status_code == 302 and response["Location"] == reverse("password_change")
    page = client.get(reverse("password_change")).content.decode()
    assert 'class="login"' in page and "初始密码" in page  # the product's page, not the admin's
    assert client.get(reverse("grids:area-list")).status_code == 403  # the pages' own API calls too
    client.post(reverse("password_change"), {"old_password": "Correct-horse-42",
                                             "new_password1": "Another-Horse-77", "new_password2": "Another-Horse-77"})
    assert client.get("/map/").status_code == 200
    assert not StaffProfile.objects.get(user=dispatcher).must_change_password


def test_login_attempts_per_address_are_rate_limited(client, dispatcher, settings):
    settings.LOGIN_RATE = "3/m"
    for _ in range(3):
        assert client.post(reverse("login"), {"username": "x", "password": "y"}, REMOTE_ADDR="10.9.9.9").status_code \
            == 200
    limited = client.post(reverse("login"), {"username": "disp", "password": "Correct-horse-42"},
                          REMOTE_ADDR="10.9.9.9")
    assert limited.status_code == 429
    assert AuditEvent.objects.filter(action="rate_limited", ip="10.9.9.9").exists()
    other = client.post(reverse("login"), {"username": "disp", "password": "Correct-horse-42"},
                        REMOTE_ADDR="10.9.9.8")
    assert other.status_code == 302


def test_open311_posts_are_limited_per_client_and_per_address(client, people, settings):
    from incidents.open311 import issue_client_key

    settings.OPEN311_RATE = "2/m"
    _, key_a = issue_client_key("a")
    _, key_b = issue_client_key("b")

    def post(key, ip):
        return client.post("/open311/v2/requests.json", {"api_key": key, "service_code": "NOPE", "lat": 27.88,
                                                         "long": 112.88}, REMOTE_ADDR=ip)

    assert [post(key_a, "10.9.0.1").status_code for _ in range(3)] == [404, 404, 429]
    assert post(key_a, "10.9.0.2").status_code == 429  # the key's budget is spent, from anywhere
    assert post(key_b, "10.9.0.3").status_code == 404  # another client has its own
    assert post(key_a, "10.9.0.1").json() == [{"code": 429, "description": "too many requests: wait a minute and try "
                                                                            "again"}]
    # Invented keys buy an address nothing: it is counted too.
    assert [post(f"invented-{i}", "10.9.0.4").status_code for i in range(3)] == [403, 403, 429]
    assert AuditEvent.objects.filter(action="open311_post", result="denied", ip="10.9.0.4").count() == 2


def test_without_redis_rate_limits_fail_open_and_readyz_says_so(client, people, settings):
    """Redis is what the rate limits count in: with it down (the production cache setting, pointed at a port
    nothing answers), logins and Open311 go on unlimited rather than fail, and /readyz reports it."""
    from citygrid.settings import caches_for
    from incidents.open311 import issue_client_key

    settings.CACHES = caches_for("redis://127.0.0.1:1/1")
    settings.LOGIN_RATE = settings.OPEN311_RATE = "1/m"
    for _ in range(3):
        response = client.post(reverse("login"), {"username": "disp_city", "password": "Correct-horse-42"})
        assert response.status_code == 302
        client.post(reverse("logout"))
    _, key = issue_client_key("app")
    statuses = [client.post("/open311/v2/requests.json", {"api_key": key, "service_code": "NOPE", "lat": 27.88,
                                                          "long": 112.88}).status_code for _ in range(3)]
    assert statuses == [404, 404, 404]
    assert client.get("/readyz").json()["redis"] == "down"
    settings.CACHES = caches_for(settings.REDIS_URL)  # and with Redis up the same limit bites
    from django.core.cache import cache

    cache.clear()
    assert [client.post("/open311/v2/requests.json", {"api_key": key, "service_code": "NOPE", "lat": 27.88,
                                                      "long": 112.88}).status_code for _ in range(2)] == [404, 429]


def test_content_security_policy_allows_no_inline_script(client, dispatcher, gridded):
    import re

    from django.contrib.auth.models import User

    from grids.models import Cell

    client.force_login(dispatcher)
    policy = client.get("/map/")["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", policy).group(1)
    assert "'unsafe-inline'" not in script_src and "'self'" in script_src
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    # The admin's map widget initialises with the request's nonce.
    client.force_login(User.objects.create_superuser("root", password="Correct-horse-42"))
    cell = Cell.objects.order_by("code").first()
    response = client.get(reverse("admin:grids_cell_change", args=[cell.pk]))
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert f'nonce="{nonce}"' in response.content.decode()


def test_case_actions_are_in_the_audit_trail_with_their_address(people):
    from tests.conftest import point_in

    lon, lat = point_in(people["a"])
    client = api_client(people["inspector"])
    response = client.post(reverse("incidents:case-list"), {"lon": lon, "lat": lat, "category": "SJ0601"},
                           format="json", REMOTE_ADDR="10.9.8.7")
    number = response.json()["id"]
    report = AuditEvent.objects.get(action="case_report", target=f"case: {number}")
    assert (report.username, report.ip, report.result) == ("insp", "10.9.8.7", "ok")
    operator = api_client(people["operator"])
    url = reverse("incidents:case-action", args=[number, "register"])
    assert operator.post(url, {"version": 1}, format="json", REMOTE_ADDR="10.9.8.8").status_code == 200
    done = AuditEvent.objects.get(action="case_register", target=f"case: {number}")
    assert (done.username, done.ip, done.detail) == ("oper", "10.9.8.8", "reported → registered")
    assert operator.post(url, {"version": 1}, format="json").status_code == 409
    assert AuditEvent.objects.filter(action="case_register", result="refused").exists()


def test_no_endpoint_parses_xml(people, client):
    bomb = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><case><category>&c;</category></case>')
    response = api_client(people["inspector"]).post(reverse("incidents:case-list"), bomb,
                                                     content_type="application/xml")
    assert response.status_code == 415
    from incidents.open311 import issue_client_key

    _, key = issue_client_key("app")
    response = client.post(f"/open311/v2/requests.xml?api_key={key}", bomb, content_type="application/xml")
    assert response.status_code == 400 and b"x-www-form-urlencoded" in response.content  # refused unread
    assert b"aaaaaaaaaa" not in response.content


def test_every_refusal_is_recorded_whoever_refuses(client, people, settings):
    """The API's policy, a page's policy, the second-factor and forced-change middleware: all in the trail."""
    settings.FORCE_PASSWORD_CHANGE = True
    people["operator"].profile.must_change_password = True
    people["operator"].profile.save()
    client.force_login(people["operator"])
    assert client.get(reverse("incidents:case-list")).status_code == 403  # forced change first (middleware)
    client.force_login(people["inspector"])
    assert client.get(reverse("frontend:console")).status_code == 403  # a page's policy
    settings.OTP_REQUIRED_ROLES = ["leader"]
    client.force_login(people["leader"])
    assert client.get(reverse("dispatch:dashboard-kpis")).status_code == 403  # second factor not passed
    denied = set(AuditEvent.objects.filter(action="permission_denied").values_list("username", flat=True))
    assert {"oper", "insp", "lead"} <= denied


def test_unit_steps_and_positions_are_in_the_audit_trail(people):
    from django.contrib.gis.geos import Point
    from django.utils import timezone

    from dispatch.models import ResponseUnit
    from incidents import intake
    from tests.conftest import point_in

    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0403", source="hotline_12345",
                                       urgency="emergency")).case
    ResponseUnit.objects.create(code="U9", name="抢修", bureau=people["cg"], position=Point(lon, lat, srid=4326),
                                position_at=timezone.now())
    client = api_client(people["dispatcher"])
    sent = client.post(reverse("dispatch:send-units", args=[case.number]), {"units": ["U9"]}, format="json")
    step = client.post(reverse("dispatch:assignment-step", args=[sent.json()["assignments"][0]["id"], "acknowledge"]),
                       REMOTE_ADDR="10.3.3.3")
    assert step.status_code == 200
    moved = api_client(people["cg_staff"]).post(reverse("dispatch:unit-position", args=["U9"]),
                                                {"lon": 112.9, "lat": 27.9}, format="json")
    assert moved.status_code == 204
    assert AuditEvent.objects.filter(action="units_sent", username="disp_city", target=f"case: {case.number}").exists()
    assert AuditEvent.objects.get(action="unit_acknowledge").ip == "10.3.3.3"
    assert AuditEvent.objects.filter(action="unit_position", username="cg1", target="unit: U9").exists()


def test_csv_exports_neutralise_formulas(people, client):
    """A description or address a spreadsheet would run, and a user name typed at a failed login, are written
    with an apostrophe in every CSV the product makes."""
    import csv
    import io

    from citygrid import roles
    from incidents import intake
    from tests.conftest import make_user, point_in

    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="hotline_12345",
                                       description='=HYPERLINK("http://evil","x")', address="@SUM(A1:A9)")).case
    export = api_client(people["operator"]).get(reverse("incidents:case-export"), {"as": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    [row] = [r for r in rows if r["number"] == case.number]
    assert row["description"] == "'=HYPERLINK(\"http://evil\",\"x\")" and row["address"] == "'@SUM(A1:A9)"
    assert row["category"] == "SJ0601" and row["status"] == "reported" and float(row["lon"]) == lon
    client.post(reverse("login"), {"username": "-2+3+cmd|' /C calc'!A0", "password": "x"})
    auditor = make_user("aud", roles.AUDITOR)
    client.force_login(auditor)
    body = b"".join(client.get(reverse("audit-export"), {"result": "failed"}).streaming_content).decode("utf-8-sig")
    [failed] = [r for r in csv.DictReader(io.StringIO(body)) if r["action"] == "login"]
    assert failed["user"] == "'-2+3+cmd|' /C calc'!A0" and failed["result"] == "failed"
    # beside the codes, what the audit page shows: the labels in the auditor's language, the city's time
    assert (failed["action_label"], failed["result_label"]) == ("登录", "失败")
    assert failed["at"].endswith("+08:00")


def test_responses_with_personal_data_are_not_stored_by_caches(people, client):
    from incidents import intake
    from tests.conftest import point_in

    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="hotline_12345",
                                       contact_phone="13800001111")).case
    token = api_client(people["operator"])
    for url in (reverse("incidents:case-detail", args=[case.number]), reverse("incidents:case-list"),
                reverse("incidents:case-export"), "/open311/v2/requests.json"):
        assert "no-store" in token.get(url)["Cache-Control"], url
    client.force_login(people["operator"])
    assert "no-store" in client.get(reverse("frontend:console"))["Cache-Control"]


def test_production_defaults_force_the_first_change_and_the_second_factor():
    """Outside DEBUG, with nothing else set, initial passwords must be changed and staff roles need TOTP."""
    import os
    import secrets
    import subprocess
    import sys
    from pathlib import Path

    env = {**{k: v for k, v in os.environ.items()
              if k not in ("FORCE_PASSWORD_CHANGE", "OTP_REQUIRED_ROLES", "DJANGO_ALLOW_ASYNC_UNSAFE")},
           "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50)}
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.FORCE_PASSWORD_CHANGE, sorted(s.OTP_REQUIRED_ROLES))")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], env={**env, "DJANGO_SETTINGS_MODULE": "citygrid.settings"},
                         cwd=root, capture_output=True, text=True)
    assert out.stdout.strip() == "True ['admin', 'auditor', 'dispatcher', 'leader', 'secadmin']", out.stderr


def test_demo_users_must_change_their_published_password(gridded):
    from citygrid.demo_users import DEMO_USERS, load_demo_users
    from citygrid.models import StaffProfile

    created = load_demo_users()
    assert set(created) == {u[0] for u in DEMO_USERS}
    flags = dict(StaffProfile.objects.values_list("user__username", "must_change_password"))
    assert all(flags[name] for name in created)


def test_every_form_needs_its_csrf_token(dispatcher):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    assert browser.post(reverse("login"), {"username": "disp", "password": "Correct-horse-42"}).status_code == 403
    browser.force_login(dispatcher)
    for name in ("password_change", "otp_setup", "otp_verify", "logout"):
        assert browser.post(reverse(name), {}).status_code == 403, name
    token = browser.get(reverse("password_change")).context["csrf_token"]
    ok = browser.post(reverse("password_change"), {"csrfmiddlewaretoken": str(token), "old_password": "x"})
    assert ok.status_code == 200  # through the check, refused on its merits
    assert AuditEvent.objects.filter(action="permission_denied", target="/accounts/login/").exists()
