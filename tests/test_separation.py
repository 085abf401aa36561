"""Separation of duties (三权分立) and the audit trail's retention and auditor's page."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone, translation

from citygrid import roles
from citygrid.audit import purge_expired, record
from citygrid.models import AuditEvent
from incidents.models import Source, Status
from tests.conftest import make_user


@pytest.fixture
def three(db):
    def staff(name, role):
        user = make_user(name, role)
        user.is_staff = True
        user.save()
        return user

    return {"admin": staff("sys", roles.ADMIN), "secadmin": staff("sec", roles.SECADMIN),
            "auditor": staff("aud", roles.AUDITOR)}


def test_nobody_holds_two_administrative_roles(three):
    with pytest.raises(ValidationError), transaction.atomic():
        three["admin"].groups.add(Group.objects.get(name=roles.AUDITOR))
    with pytest.raises(ValidationError), transaction.atomic():
        three["secadmin"].groups.add(Group.objects.get(name=roles.ADMIN))
    assert set(three["admin"].groups.values_list("name", flat=True)) == {roles.ADMIN}


def test_each_administrator_sees_only_their_part_of_the_admin_site(client, three):
    client.force_login(three["admin"])
    assert client.get(reverse("admin:grids_bureau_changelist")).status_code == 200
    assert client.get(reverse("admin:citygrid_auditevent_changelist")).status_code == 403
    assert client.get(reverse("admin:citygrid_apitoken_changelist")).status_code == 403
    assert client.get(reverse("audit-trail")).status_code == 403
    client.force_login(three["secadmin"])
    assert client.get(reverse("admin:citygrid_apitoken_changelist")).status_code == 200
    assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 200
    assert client.get(reverse("admin:grids_bureau_changelist")).status_code == 403
    assert client.get(reverse("admin:citygrid_auditevent_changelist")).status_code == 403
    assert client.get(reverse("incidents:case-list")).status_code == 403  # no business data
    client.force_login(three["auditor"])
    assert client.get(reverse("admin:citygrid_auditevent_changelist")).status_code == 200
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert client.get(reverse("incidents:case-list")).status_code == 403


def test_only_the_security_administrator_gives_roles_and_never_to_himself(client, three):
    target = make_user("clerk", roles.INSPECTOR)
    leader = Group.objects.get(name=roles.LEADER)

    def change(user, actor):
        client.force_login(actor)
        form = client.get(reverse("admin:auth_user_change", args=[user.pk])).context["adminform"].form
        data = {k: v for k, v in form.initial.items() if v is not None and k not in ("password",)}
        data.update({"username": user.username, "groups": [leader.pk], "date_joined_0": "2026-01-01",
                     "date_joined_1": "00:00:00", "profile-TOTAL_FORMS": "1", "profile-INITIAL_FORMS": "1",
                     "profile-0-id": user.profile.pk, "profile-0-user": user.pk, "is_active": "on"})
        return client.post(reverse("admin:auth_user_change", args=[user.pk]), data)

    change(target, three["admin"])
    assert not target.groups.filter(name=roles.LEADER).exists()  # the field is read-only for him
    response = change(target, three["secadmin"])
    assert response.status_code == 302, response.content[:2000]
    assert target.groups.filter(name=roles.LEADER).exists()
    assert AuditEvent.objects.filter(action="role_change", username="sec", target="user: clerk",
                                     detail__contains="+leader").exists()
    change(three["secadmin"], three["secadmin"])
    assert not three["secadmin"].groups.filter(name=roles.LEADER).exists()


def _old_event(days: int) -> int:
    with connection.cursor() as cur:  # as the trail would hold it after months
        cur.execute("INSERT INTO citygrid_auditevent (at, username, action, target, result, detail) "
                    "VALUES (%s, 'old', 'login', '', 'ok', '') RETURNING id", [timezone.now() - timedelta(days=days)])
        return cur.fetchone()[0]


def test_retention_purges_only_what_is_older_than_180_days(db):
    old, recent, young = _old_event(200), _old_event(170), record("login", username="new").pk
    assert purge_expired() == 1
    remaining = set(AuditEvent.objects.values_list("pk", flat=True))
    assert old not in remaining and {recent, young} <= remaining
    assert AuditEvent.objects.filter(action="audit_purge", detail__startswith="1 events").exists()
    with pytest.raises(Exception, match="days_check|violates check"), transaction.atomic():
        purge_expired(days=30)  # the database refuses a shorter retention
    with pytest.raises(Exception, match="permission denied"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM citygrid_auditevent WHERE id = %s", [recent])  # only through the purge function


def test_the_audit_page_names_actions_and_results_as_a_person_reads_them(client, three):
    """In Chinese, no action or result code shows on the auditor's page; the search offers the labels."""
    import re

    from citygrid.audit import known_actions

    record("login", username="mallory", result="failed")
    record("case_close", username="op", target="case: 20261127000001")
    record("incident_task_done", username="hq", target="incident: YJ2026001")
    record("unit_acknowledge", username="crew")
    record("case_dispatch", username="op", target="case: 20261127000002", detail="registered → dispatched")
    record("case_report", target="case: 20261127000003", detail="hotline_12319")  # from no signed-in user
    client.force_login(three["auditor"])
    page = client.get(reverse("audit-trail"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    cells = re.findall(r"<td>(.*?)</td>", page.content.decode())
    for label in ("登录", "失败", "结案", "任务完成", "处置力量已接收", "成功", "案件 20261127000001",
                  "突发事件 YJ2026001", "（未登录）"):
        assert label in cells, label
    for code in ("login", "failed", "case_close", "incident_task_done", "unit_acknowledge", "ok"):
        assert code not in cells, code
    # a step's detail names the statuses, a report's its source: as labels, not codes
    with translation.override("zh-hans"):
        assert f"{Status.REGISTERED.label} → {Status.DISPATCHED.label}" in cells
        assert str(Source.HOTLINE_12319.label) in cells
    assert not [cell for cell in cells if re.search(r"registered|dispatched|hotline_12319", cell)]
    assert not [cell for cell in cells if cell.startswith(("case:", "incident:"))]  # the targets' kinds labelled
    codes = dict(known_actions())
    assert {"case_close", "incident_task_done", "unit_acknowledge", "login", "audit_search"} <= codes.keys()
    with translation.override("zh-hans"):  # the search offers each label once
        labels = [label for _, label in known_actions()]
    assert len(labels) == len(set(labels)), sorted({x for x in labels if labels.count(x) > 1})
    found = client.get(reverse("audit-trail"), {"action": "case_close"}).content.decode()
    assert "20261127000001" in found and "mallory" not in found
    record("admin", username="old-release")  # a code nobody labelled is still found, and exported
    assert "old-release" in client.get(reverse("audit-trail"), {"action": "admin"}).content.decode()
    export = client.get(reverse("audit-export"), {"action": "admin"})
    assert export.status_code == 200 and "old-release" in b"".join(export.streaming_content).decode("utf-8-sig")


def test_the_auditor_searches_and_exports_and_both_are_recorded(client, three):
    record("login", username="mallory", result="failed")
    record("login", username="alice")
    client.force_login(three["auditor"])
    page = client.get(reverse("audit-trail"), {"result": "failed"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "mallory" in text and "alice" not in text
    assert client.get(reverse("audit-trail"), {"start": "2026-12-01", "end": "2026-11-01"}).status_code == 400
    export = client.get(reverse("audit-export"), {"q": "mallory"})
    body = b"".join(export.streaming_content).decode("utf-8-sig")
    assert export.status_code == 200 and "mallory" in body and "alice" not in body
    assert AuditEvent.objects.filter(action="audit_export", username="aud", detail="q=mallory").exists()
    assert AuditEvent.objects.filter(action="audit_search", username="aud").exists()
