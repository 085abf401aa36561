"""CSV as the product writes it, everywhere: a spreadsheet must never run what a reporter or a failed login
typed. A text cell that starts with = + - @, a tab or a carriage return is a formula to Excel and WPS, so it
gets a leading apostrophe (OWASP's advice); numbers and dates are written as they are."""

import csv
from collections.abc import Iterable, Iterator

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[object]], *, bom: bool = True) -> Iterator[str]:
    """The rows as CSV lines, each text cell neutralised; a BOM first so spreadsheet programs read UTF-8."""
    writer = csv.writer(_Echo())
    if bom:
        yield "\ufeff"
    for row in rows:
        yield writer.writerow([safe_cell(v) for v in row])
