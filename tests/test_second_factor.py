"""The second factor: enrolment with a QR code, verification, recovery codes, and who must pass it."""

import re
from base64 import b32decode

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from citygrid import roles
from citygrid.models import AuditEvent
from tests.conftest import make_user


def _code(device: TOTPDevice, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


def _login(client, username: str) -> None:
    response = client.post(reverse("login"), {"username": username, "password": "Correct-horse-42"})
    assert response.status_code == 302, response.content[:500]


@pytest.fixture
def required(settings):
    settings.OTP_REQUIRED_ROLES = ["dispatcher", "leader", "admin", "secadmin", "auditor"]
    return settings


def test_a_dispatcher_enrols_then_must_verify_at_every_login(client, db, required):
    user = make_user("disp2fa", roles.DISPATCHER)
    _login(client, "disp2fa")
    # Before enrolment every page leads to the enrolment page, the API refuses.
    response = client.get(reverse("frontend:map"))
    assert response.status_code == 302 and response.url.startswith(reverse("otp_setup"))
    assert client.get(reverse("incidents:case-list")).status_code == 403
    page = client.get(response.url)
    assert page.status_code == 200 and b"<svg" in page.content
    secret = re.search(rb'class="secret">([A-Z2-7]+)<', page.content).group(1).decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert b32decode(secret) == device.bin_key  # the key typed by hand is the QR code's key
    assert client.post(reverse("otp_setup"), {"token": "000000"}).status_code == 200  # wrong: the form again
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # repeated guesses are slowed down (django-otp's throttling)
    device.throttle_reset()  # as if the user had waited
    done = client.post(reverse("otp_setup"), {"token": _code(device), "next": "/"})
    assert done.status_code == 200
    codes = re.findall(rb"<code>([0-9a-f]{4}-[0-9a-f]{4})</code>", done.content)
    assert len(codes) == 10
    assert client.get(reverse("frontend:map")).status_code == 200
    assert client.get(reverse("incidents:case-list")).status_code == 200

    client.logout()
    _login(client, "disp2fa")
    response = client.get(reverse("frontend:map"))
    assert response.url.startswith(reverse("otp_verify"))
    assert client.post(reverse("otp_verify"), {"token": "123456"}).status_code == 400
    # A recovery code works once.
    assert client.post(reverse("otp_verify"), {"token": codes[0].decode(), "next": "/"}).status_code == 302
    assert client.get(reverse("frontend:map")).status_code == 200
    client.logout()
    _login(client, "disp2fa")
    assert client.post(reverse("otp_verify"), {"token": codes[0].decode()}).status_code == 400
    actions = list(AuditEvent.objects.filter(username="disp2fa", action__startswith="otp")
                   .values_list("action", "result"))
    assert ("otp_enrol", "failed") in actions and ("otp_enrol", "ok") in actions
    assert ("otp_verify", "failed") in actions and ("otp_verify", "ok") in actions


def test_roles_outside_the_setting_need_no_second_factor(client, db, required):
    make_user("insp2fa", roles.INSPECTOR)
    _login(client, "insp2fa")
    assert client.get(reverse("frontend:map")).status_code == 200


def test_api_tokens_are_not_held_up(db, required):
    from tests.conftest import api_client

    user = make_user("disptoken", roles.DISPATCHER)
    assert api_client(user).get(reverse("incidents:case-list")).status_code == 200


def test_the_next_address_stays_on_this_site(client, db, required):
    user = make_user("disp2fb", roles.DISPATCHER)
    device = TOTPDevice.objects.create(user=user, name="a", confirmed=True)
    _login(client, "disp2fb")
    response = client.post(reverse("otp_verify"), {"token": _code(device), "next": "https://evil.example/"})
    assert response.status_code == 302 and response.url == reverse("frontend:home")


def test_on_by_default_outside_debug():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "from django.conf import settings; import django; django.setup();"
                          "print(','.join(settings.OTP_REQUIRED_ROLES))"],
                         env={"DEBUG": "0", "SECRET_KEY": "x" * 50, "DJANGO_SETTINGS_MODULE": "citygrid.settings",
                              "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
    assert set(out.stdout.strip().split(",")) >= {"admin", "dispatcher", "leader"}
