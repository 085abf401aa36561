"""Tracking codes (查询码): what a citizen needs, beside the case number, to follow a report on /track/.

Case numbers are sequential per day, so a number alone would let anyone walk through every case. The code is
an HMAC of the number under the site's secret key: ten base-32 characters (50 bits), nothing stored, the same
code for a retried report, unguessable without the key. Rotating SECRET_KEY keeps old links working while the
old key is listed in SECRET_KEY_FALLBACKS. The tracking pages are rate-limited per address as well.
"""

import base64
import re

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

_SALT = "citygrid.incidents.tracking"
_LENGTH = 10
_NOT_CODE = re.compile(r"[^A-Z2-7]")


def _code(number: str, secret: str) -> str:
    digest = salted_hmac(_SALT, number, secret=secret, algorithm="sha256").digest()
    return base64.b32encode(digest).decode()[:_LENGTH]


def tracking_code(number: str) -> str:
    """The code for a case number, as shown to the citizen (two groups of five)."""
    code = _code(number, settings.SECRET_KEY)
    return f"{code[:5]}-{code[5:]}"


def normalise(code: str) -> str:
    """What a person typed, as a code: upper case, without spaces or dashes."""
    return _NOT_CODE.sub("", (code or "").upper())[:_LENGTH * 2]


def code_matches(number: str, code: str) -> bool:
    given = normalise(code)
    if len(given) != _LENGTH:
        return False
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(constant_time_compare(_code(number, secret), given) for secret in secrets)

