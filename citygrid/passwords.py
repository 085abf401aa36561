"""Password rules beyond Django's own (length, similarity to the user, common, all digits): GB/T 22239
level 3 asks for complex passwords, taken here as three of the four kinds of character, and for passwords
that are really changed — not the current one again, nor one of the last few (`HistoryValidator`).

A password changed, whoever changed it, also revokes the user's API tokens and is recorded in the audit
trail; one set by somebody else (the security administrator's set-password form) must be changed by its
owner at the next login. All of it happens in `HistoryValidator.password_changed`, which Django calls on
every save of a new password, whichever path set it."""

import re

from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import get_default_password_validators
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

_KINDS = (re.compile(r"[a-z]"), re.compile(r"[A-Z]"), re.compile(r"[0-9]"), re.compile(r"[^a-zA-Z0-9]"))


class ComplexityValidator:
    def __init__(self, kinds: int = 3):
        self.kinds = kinds

    def validate(self, password: str, user=None) -> None:
        if sum(1 for kind in _KINDS if kind.search(password)) < self.kinds:
            raise ValidationError(self.get_help_text(), code="password_too_simple")

    def get_help_text(self) -> str:
        return _("Use at least %(n)d of: lower-case letters, capitals, digits, other characters.") % {
            "n": self.kinds}


class HistoryValidator:
    def __init__(self, remember: int = 5):
        self.remember = remember

    def _recent(self, user) -> list[str]:
        from .models import PasswordHistory

        return list(PasswordHistory.objects.filter(user_id=user.pk).values_list("password", flat=True)
                    [: self.remember])

    def validate(self, password: str, user=None) -> None:
        if user is None or user.pk is None:
            return
        from django.contrib.auth import get_user_model

        current = get_user_model().objects.filter(pk=user.pk).values_list("password", flat=True).first()
        if any(check_password(password, encoded) for encoded in {current, *self._recent(user)} if encoded):
            raise ValidationError(self.get_help_text(), code="password_reused")

    def get_help_text(self) -> str:
        return ngettext("Use a password other than your current one and the last one.",
                        "Use a password other than your current one and the last %(n)d.",
                        self.remember) % {"n": self.remember}

    def password_changed(self, password: str, user) -> None:
        from .audit import current_actor, record
        from .models import StaffProfile
        from .receivers import revoke_tokens

        previous = getattr(user, "_citygrid_previous_password", None)  # citygrid.receivers
        if previous is None:
            return  # a new account: its first password is kept by citygrid.receivers when it is created
        if check_password(password, previous):
            return  # the same password re-hashed (a stronger hasher at login): nothing changed
        remember_password(user, self.remember)
        revoked = revoke_tokens(user)
        actor = current_actor()
        by_other = actor is not None and actor.pk != user.pk
        if by_other:
            StaffProfile.objects.filter(user=user).update(must_change_password=True)
        record("password_change", target=f"user: {user.get_username()}",
               detail=("set by another user, to be changed at the next login; " if by_other else "")
               + f"{revoked} API tokens revoked")


def remember_password(user, remember: int | None = None) -> None:
    """Keep the user's current password hash in the history, and only the newest `remember` of them."""
    from .models import PasswordHistory

    if not user.has_usable_password():
        return
    if remember is None:
        remember = next((v.remember for v in get_default_password_validators() if isinstance(v, HistoryValidator)),
                        5)
    PasswordHistory.objects.create(user=user, password=user.password)
    stale = PasswordHistory.objects.filter(user=user).values_list("pk", flat=True)[remember:]
    PasswordHistory.objects.filter(pk__in=list(stale)).delete()
