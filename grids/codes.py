"""Grid codes after GB/T 30428 / CJ/T 213: county (GB/T 2260) + street (GB/T 10114) + community + cell.

Each level's code is its parent's code followed by its own digits, so a cell code such as 430302001001007
reads: 430302 雨湖区, 001 street, 001 community, 007 cell. The widths are a setting (default 6,3,3,3).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

CITY, DISTRICT, STREET, COMMUNITY, CELL = 1, 2, 3, 4, 5


def code_widths() -> tuple[int, int, int, int]:
    widths = tuple(settings.GRID_CODE_WIDTHS)
    if len(widths) != 4 or any(w < 1 for w in widths):
        raise ValueError("GRID_CODE_WIDTHS must be four positive widths, e.g. 6,3,3,3")
    return widths  # type: ignore[return-value]


def code_length(level: int) -> int:
    """Total digits of a code at a level (the city and its districts share the county width)."""
    widths = code_widths()
    return widths[0] + sum(widths[1 : max(level - 1, 1)])


def local_width(level: int) -> int:
    """Digits a level adds to its parent's code."""
    widths = code_widths()
    return widths[0] if level <= DISTRICT else widths[level - 2]


def validate_code(level: int, code: str, parent_code: str | None) -> None:
    """Raise ValidationError unless `code` is a well-formed code of `level` under `parent_code`."""
    expected = code_length(level)
    if not code.isdigit() or not code.isascii():
        raise ValidationError(_("Code %(code)s must contain digits only.") % {"code": code}, code="digits")
    if len(code) != expected:
        raise ValidationError(
            _("Code %(code)s must have %(n)d digits at this level.") % {"code": code, "n": expected},
            code="length",
        )
    if level == CITY:
        return
    if parent_code is None:
        raise ValidationError(_("Code %(code)s needs a parent area.") % {"code": code}, code="parent")
    if level == DISTRICT:
        # GB/T 2260: a county-level code shares the prefecture's first four digits.
        if code[:4] != parent_code[:4] or code == parent_code:
            raise ValidationError(
                _("District code %(code)s does not belong to city %(parent)s.")
                % {"code": code, "parent": parent_code},
                code="prefix",
            )
        return
    if not code.startswith(parent_code):
        raise ValidationError(
            _("Code %(code)s must start with its parent's code %(parent)s.")
            % {"code": code, "parent": parent_code},
            code="prefix",
        )
    if set(code[len(parent_code) :]) == {"0"}:
        raise ValidationError(
            _("Code %(code)s: the sequence after the parent's code cannot be all zeros.") % {"code": code},
            code="zero",
        )


def child_code(parent_code: str, level: int, sequence: int) -> str:
    """The code of the `sequence`-th child (1-based) at `level` under `parent_code`."""
    width = local_width(level)
    if not 1 <= sequence < 10**width:
        raise ValueError(
            _("Sequence %(seq)d does not fit in %(width)d digits.") % {"seq": sequence, "width": width}
        )
    return f"{parent_code}{sequence:0{width}d}"
