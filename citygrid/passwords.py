"""Password rules beyond Django's own (length, similarity to the user, common, all digits): GB/T 22239
level 3 asks for complex passwords, taken here as three of the four kinds of character."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

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
