"""Passwords really change (not the current one, not one of the last few) and a changed password or a
switched-off account takes the user's API tokens with it."""

import pytest
from django.urls import reverse

from citygrid.models import ApiToken, AuditEvent, PasswordHistory
from tests.conftest import api_client


def _change(client, old: str, new: str):
    return client.post(reverse("password_change"), {"old_password": old, "new_password1": new,
                                                    "new_password2": new})


def test_the_forced_change_refuses_the_same_password_and_recent_ones(client, dispatcher, settings):
    settings.FORCE_PASSWORD_CHANGE = True
    dispatcher.profile.must_change_password = True
    dispatcher.profile.save()
    client.force_login(dispatcher)
    same = _change(client, "Correct-horse-42", "Correct-horse-42")
    assert same.status_code == 200 and "new_password2" in same.context["form"].errors
    dispatcher.profile.refresh_from_db()
    assert dispatcher.profile.must_change_password  # still to be changed
    passwords = ["Second-horse-43", "Third-horse-44", "Fourth-horse-45"]
    current = "Correct-horse-42"
    for new in passwords:
        assert _change(client, current, new).status_code == 302, new
        current = new  # the session follows the new password (update_session_auth_hash)
    back = _change(client, current, "Correct-horse-42")  # the first one, three changes ago
    assert back.status_code == 200 and "new_password2" in back.context["form"].errors
    assert PasswordHistory.objects.filter(user=dispatcher).count() == 4  # the first and three changes


def test_history_keeps_as_many_as_configured(dispatcher):
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    for i in range(7):
        dispatcher.set_password(f"Rotating-pass-{i:02d}")
        dispatcher.save()
    assert PasswordHistory.objects.filter(user=dispatcher).count() == 5
    validate_password("Rotating-pass-01", dispatcher)  # six changes ago: allowed again
    with pytest.raises(ValidationError):
        validate_password("Rotating-pass-03", dispatcher)


def test_a_changed_password_revokes_the_users_tokens(client, dispatcher):
    token_client = api_client(dispatcher)
    assert token_client.get(reverse("incidents:catalogue")).status_code == 200
    client.force_login(dispatcher)
    assert _change(client, "Correct-horse-42", "Brand-new-pass-9").status_code == 302
    assert token_client.get(reverse("incidents:catalogue")).status_code == 401
    assert not ApiToken.objects.filter(user=dispatcher, revoked_at__isnull=True).exists()
    event = AuditEvent.objects.get(action="password_change", target="user: disp")
    assert event.username == "disp" and "1 API tokens revoked" in event.detail


def test_a_rehash_at_login_is_not_a_change(client, dispatcher, settings):
    # A stronger hasher in a new release re-hashes the same password at the next login: tokens stay.
    token_client = api_client(dispatcher)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher",
                                 "django.contrib.auth.hashers.MD5PasswordHasher"]
    assert client.post(reverse("login"), {"username": "disp", "password": "Correct-horse-42"}).status_code == 302
    dispatcher.refresh_from_db()
    assert dispatcher.password.startswith("pbkdf2_")
    assert token_client.get(reverse("incidents:catalogue")).status_code == 200
    assert not AuditEvent.objects.filter(action="password_change").exists()


def test_deactivating_an_account_revokes_its_tokens(dispatcher):
    token_client = api_client(dispatcher)
    dispatcher.is_active = False
    dispatcher.save()
    dispatcher.is_active = True  # switched on again: the old tokens stay revoked
    dispatcher.save()
    assert token_client.get(reverse("incidents:catalogue")).status_code == 401
    assert AuditEvent.objects.filter(action="account_deactivated", target="user: disp").exists()
