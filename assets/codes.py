"""Component codes after GB/T 30428: county code (GB/T 2260) + major class + subclass + sequence, e.g.
430302 01 08 000123 — 雨湖区, 公用设施, 消防栓, the 123rd. The widths are a setting (COMPONENT_CODE_WIDTHS,
default 6,2,2,6), as the grid's are; the subclass is stored as the catalogue's code (BJ0108)."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

SUBCLASS_RE = re.compile(r"^BJ(\d{2})(\d{2})$")


def code_widths() -> tuple[int, int, int, int]:
    widths = tuple(settings.COMPONENT_CODE_WIDTHS)
    if len(widths) != 4 or any(w < 1 for w in widths):
        raise ValueError("COMPONENT_CODE_WIDTHS must be four positive widths, e.g. 6,2,2,6")
    return widths  # type: ignore[return-value]


def code_length() -> int:
    return sum(code_widths())


def split_subclass(subclass: str) -> tuple[str, str]:
    """The major class and subclass digits of a catalogue code such as BJ0108; ValidationError otherwise."""
    match = SUBCLASS_RE.match(subclass or "")
    if match is None:
        raise ValidationError(_("%(code)s is not a component subclass code (BJ + 4 digits).") % {"code": subclass},
                              code="subclass")
    return match.group(1), match.group(2)


def validate_code(code: str, subclass: str, county: str | None = None) -> None:
    """Raise ValidationError unless `code` is a well-formed component code of `subclass` (and, when given, of
    the county code `county`)."""
    county_w, class_w, sub_w, seq_w = code_widths()
    if not code.isascii() or not code.isdigit():
        raise ValidationError(_("Code %(code)s must contain digits only.") % {"code": code}, code="digits")
    if len(code) != code_length():
        raise ValidationError(_("Code %(code)s must have %(n)d digits.") % {"code": code, "n": code_length()},
                              code="length")
    major, minor = split_subclass(subclass)
    got_major = code[county_w:county_w + class_w]
    got_minor = code[county_w + class_w:county_w + class_w + sub_w]
    if got_major.lstrip("0") != major.lstrip("0") or got_minor.lstrip("0") != minor.lstrip("0"):
        raise ValidationError(
            _("Code %(code)s does not carry the class and subclass of %(subclass)s.")
            % {"code": code, "subclass": subclass}, code="class")
    if set(code[-seq_w:]) == {"0"}:
        raise ValidationError(_("Code %(code)s: the sequence cannot be all zeros.") % {"code": code}, code="zero")
    if county is not None and code[:county_w] != county[:county_w]:
        raise ValidationError(
            _("Code %(code)s does not start with the county code %(county)s of the district it lies in.")
            % {"code": code, "county": county[:county_w]}, code="county")


def make_code(county: str, subclass: str, sequence: int) -> str:
    county_w, class_w, sub_w, seq_w = code_widths()
    major, minor = split_subclass(subclass)
    if not 1 <= sequence < 10**seq_w:
        raise ValueError(f"sequence {sequence} does not fit in {seq_w} digits")
    return f"{county[:county_w]}{int(major):0{class_w}d}{int(minor):0{sub_w}d}{sequence:0{seq_w}d}"
