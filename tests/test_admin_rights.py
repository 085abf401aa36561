"""The admin site tested as the API is: each administrative role × admin URL (pages, forms, password forms,
token creation), and what a POST really changes. Separation of duties as roles.ROLE_PERMISSIONS and
roles.ACCOUNT_FIELDS declare it."""

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from citygrid import roles
from citygrid.models import ApiToken, AuditEvent
from tests.conftest import api_client, make_user, point_in


def _staff(name: str, role: str) -> User:
    user = make_user(name, role)
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def site(people):
    from incidents import intake

    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="hotline_12345",
                                       contact_name="王小明", contact_phone="13800001111",
                                       contact_email="wang@example.cn")).case
    three = {"admin": _staff("sys", roles.ADMIN), "secadmin": _staff("sec", roles.SECADMIN),
             "auditor": _staff("aud", roles.AUDITOR)}
    return {"case": case, **three, "inspector": people["inspector"], "leader": people["leader"]}


# (url name, args from the site, roles that get 200; the others 403)
MATRIX = [
    ("admin:incidents_case_changelist", [], set()),
    ("admin:incidents_case_change", ["case"], set()),
    ("admin:incidents_category_changelist", [], {"admin"}),
    ("admin:incidents_open311client_add", [], {"secadmin"}),
    ("admin:citygrid_apitoken_add", [], {"secadmin"}),
    ("admin:citygrid_auditevent_changelist", [], {"auditor"}),
    ("admin:auth_user_add", [], {"admin"}),
    ("admin:auth_user_change", ["inspector"], {"admin", "secadmin"}),
    ("admin:auth_user_password_change", ["inspector"], {"secadmin"}),
    ("admin:auth_user_password_change", ["secadmin"], set()),
    ("admin:auth_user_password_change", ["auditor"], set()),
    ("admin:auth_user_password_change", ["admin"], set()),
    ("admin:grids_bureau_changelist", [], {"admin"}),
    ("admin:dispatch_routingrule_changelist", [], {"admin"}),
    ("admin:dispatch_responseunit_add", [], {"admin"}),
    ("admin:dispatch_unitassignment_changelist", [], {"admin"}),
    ("admin:dispatch_evaluationweight_add", [], {"admin"}),
    ("admin:dispatch_stagelimit_changelist", [], {"admin"}),
    ("admin:axes_accessattempt_changelist", [], {"secadmin", "auditor"}),
    ("admin:incidents_publicationrule_changelist", [], {"admin"}),  # what the public sees: configuration
    ("admin:incidents_publicationrule_add", [], {"admin"}),
    # lifeline monitoring: the registry is the system administrator's, gateways (keys) the security administrator's
    ("admin:monitoring_sensor_add", [], {"admin"}),
    ("admin:monitoring_sensor_changelist", [], {"admin"}),
    ("admin:monitoring_sensorkind_changelist", [], {"admin"}),
    ("admin:monitoring_alarmepisode_changelist", [], {"admin"}),
    ("admin:monitoring_rejection_changelist", [], {"admin"}),
    ("admin:monitoring_gateway_changelist", [], {"secadmin"}),
]


@pytest.mark.parametrize(("name", "args", "allowed"), MATRIX, ids=[f"{n} {a}" for n, a, _ in MATRIX])
def test_administrative_role_by_admin_url(client, site, name, args, allowed):
    url = reverse(name, args=[site[a].pk for a in args])
    for role in ("admin", "secadmin", "auditor"):
        client.force_login(site[role])
        status = client.get(url).status_code
        assert status == (200 if role in allowed else 403), (role, name, args, status)


def test_refusals_on_the_admin_site_are_audited(client, site):
    client.force_login(site["admin"])
    client.get(reverse("admin:incidents_case_change", args=[site["case"].pk]))
    assert AuditEvent.objects.filter(action="permission_denied", username="sys",
                                     target__contains="/admin/incidents/case/").exists()


def test_nobody_reads_a_reporters_contact_details_in_the_admin(client, site):
    root = User.objects.create_superuser("root", password="Correct-horse-42")
    client.force_login(root)  # even break-glass: the callback desk's pages and API show them, masked or not
    page = client.get(reverse("admin:incidents_case_change", args=[site["case"].pk])).content.decode()
    assert site["case"].number in page
    assert "13800001111" not in page and "王小明" not in page and "wang@example.cn" not in page


def _change_form_data(client, user: User) -> dict:
    form = client.get(reverse("admin:auth_user_change", args=[user.pk])).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("password",)}
    data["groups"] = [g.pk if hasattr(g, "pk") else g for g in data.get("groups", [])]
    data.update({"username": user.username, "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
                 "profile-TOTAL_FORMS": "1", "profile-INITIAL_FORMS": "1", "profile-MIN_NUM_FORMS": "0",
                 "profile-MAX_NUM_FORMS": "1", "profile-0-id": user.profile.pk, "profile-0-user": user.pk})
    if user.is_active:
        data["is_active"] = "on"
    return data


def test_the_system_administrator_keeps_details_not_access(client, site, people):
    target = site["inspector"]
    client.force_login(site["admin"])
    data = _change_form_data(client, target)
    data.update({"first_name": "新名字", "profile-0-phone": "0731-1234567", "profile-0-district": people["east"].pk,
                 "groups": [Group.objects.get(name=roles.LEADER).pk]})
    data.pop("is_active", None)  # tries to switch the account off
    assert client.post(reverse("admin:auth_user_change", args=[target.pk]), data).status_code == 302
    target.refresh_from_db()
    target.profile.refresh_from_db()
    assert target.first_name == "新名字" and target.profile.phone == "0731-1234567"  # details: his
    assert target.is_active and target.profile.district_id == people["west"].pk  # state and scope: not his
    assert not target.groups.filter(name=roles.LEADER).exists()


def test_the_security_administrator_decides_access_not_details(client, site, people):
    target = site["inspector"]
    client.force_login(site["secadmin"])
    data = _change_form_data(client, target)
    data.update({"first_name": "别的名字", "profile-0-district": people["east"].pk})
    data.pop("is_active", None)
    assert client.post(reverse("admin:auth_user_change", args=[target.pk]), data).status_code == 302
    target.refresh_from_db()
    target.profile.refresh_from_db()
    assert target.first_name != "别的名字"
    assert not target.is_active and target.profile.district_id == people["east"].pk


def test_no_administrator_changes_another_administrators_account(client, site):
    for actor, victim in (("admin", "secadmin"), ("admin", "auditor"), ("secadmin", "auditor"),
                          ("secadmin", "admin")):
        client.force_login(site[actor])
        url = reverse("admin:auth_user_change", args=[site[victim].pk])
        data = _change_form_data(client, site[victim]) if client.get(url).status_code == 200 else {}
        data.pop("is_active", None)
        client.post(url, data)
        site[victim].refresh_from_db()
        assert site[victim].is_active, (actor, victim)
        response = client.post(reverse("admin:auth_user_password_change", args=[site[victim].pk]),
                               {"password1": "Another-pass-99", "password2": "Another-pass-99"})
        assert response.status_code == 403, (actor, victim)
        assert site[victim].check_password("Correct-horse-42"), (actor, victim)


def test_accounts_made_by_the_system_administrator_have_no_usable_password(client, site):
    client.force_login(site["admin"])
    response = client.post(reverse("admin:auth_user_add"), {
        "username": "newbie", "first_name": "新人", "profile-TOTAL_FORMS": "0", "profile-INITIAL_FORMS": "0"})
    assert response.status_code == 302
    assert not User.objects.get(username="newbie").has_usable_password()


def test_a_password_set_by_the_security_administrator_must_be_changed_at_first_login(client, site):
    client.force_login(site["secadmin"])
    response = client.post(reverse("admin:auth_user_password_change", args=[site["inspector"].pk]),
                           {"password1": "Initial-pass-77", "password2": "Initial-pass-77"})
    assert response.status_code == 302
    site["inspector"].profile.refresh_from_db()
    assert site["inspector"].profile.must_change_password
    assert AuditEvent.objects.filter(action="password_change", username="sec", target="user: insp",
                                     detail__startswith="set by another user").exists()


def test_tokens_are_made_only_for_oneself(client, site):
    client.force_login(site["secadmin"])
    response = client.post(reverse("admin:citygrid_apitoken_add"),
                           {"user": site["leader"].pk, "name": "for the leader", "expires_at_0": "",
                            "expires_at_1": ""})
    assert response.status_code == 302
    token = ApiToken.objects.get(name="for the leader")
    assert token.user == site["secadmin"]  # not the leader's: the maker cannot act as anyone else
    assert not ApiToken.objects.filter(user=site["leader"], name="for the leader").exists()


def test_role_changes_from_the_groups_side_are_checked_and_audited(site):
    from django.core.exceptions import ValidationError
    from django.db import transaction

    auditors = Group.objects.get(name=roles.AUDITOR)
    with pytest.raises(ValidationError), transaction.atomic():
        auditors.user_set.add(site["admin"])  # the reverse relation: the same separation check
    assert not site["admin"].groups.filter(name=roles.AUDITOR).exists()
    Group.objects.get(name=roles.LEADER).user_set.add(site["inspector"])
    assert AuditEvent.objects.filter(action="role_change", target="user: insp", detail="+leader").exists()
    Group.objects.get(name=roles.LEADER).user_set.clear()
    assert AuditEvent.objects.filter(action="role_change", target="user: insp", detail="-leader").exists()


def test_the_security_administrator_sees_no_cases_even_with_a_token(site):
    token_client = api_client(site["secadmin"])
    assert token_client.get(reverse("incidents:case-list")).status_code == 403
    assert token_client.get(reverse("incidents:case-detail", args=[site["case"].number])).status_code == 403
