"""A caller's earlier cases, found by the digits of the number as the operator types it (the hotline desk)."""

import re

from django.db import connection

from . import scoping
from .models import Case

MIN_DIGITS = 6  # fewer digits match too many numbers to tell the operator anything
LIMIT = 10

# A prefix of the digits, through the index on them (case_contact_digits_idx); the number itself first.
_SQL = r"""
SELECT id FROM incidents_case
WHERE contact_phone <> '' AND regexp_replace(contact_phone, '\D', '', 'g') LIKE %(prefix)s
ORDER BY regexp_replace(contact_phone, '\D', '', 'g') = %(digits)s DESC, created_at DESC
LIMIT %(limit)s
"""


def digits(phone: str) -> str:
    return re.sub(r"\D", "", phone or "")[:30]


def earlier_cases(user, phone: str, limit: int = LIMIT) -> list[Case]:
    """Cases the user may see whose contact number starts with these digits, that number itself first, then
    the newest; nothing for fewer than MIN_DIGITS digits."""
    wanted = digits(phone)
    if len(wanted) < MIN_DIGITS:
        return []
    with connection.cursor() as cur:
        # Over-fetch: some of them may lie outside the user's district.
        cur.execute(_SQL, {"prefix": wanted + "%", "digits": wanted, "limit": limit * 5})
        ids = [row[0] for row in cur.fetchall()]
    found = {c.pk: c for c in scoping.visible_cases(user).filter(pk__in=ids).select_related("category")}
    return [found[i] for i in ids if i in found][:limit]
