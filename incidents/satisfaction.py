"""The satisfaction rate (满意率) of the callbacks (回访), per bureau or district over a period.

    rate = (satisfied + basically satisfied) / callbacks that reached the caller and recorded an answer

Counted from the callbacks made in [start, end): each answered callback counts once, for the bureau and the
district whose work it judged as they were at the call (a case reopened and called back again counts twice, as
two outcomes of the service). Calls that reached nobody do not count. A plain function over one table, for the
evaluation (dispatch.evaluation) to weigh beside its other rates.
"""

from dataclasses import dataclass
from datetime import datetime

from citygrid.replicas import reading
from grids.generations import lineage

from .models import Satisfaction


@dataclass(frozen=True)
class SatisfactionFigures:
    key: int  # the bureau's or the district's id
    answered: int
    satisfied: int
    basically: int
    not_satisfied: int

    @property
    def rate(self) -> float | None:
        """(satisfied + basically satisfied) / answered, 0–1; None without any answer."""
        return round((self.satisfied + self.basically) / self.answered, 4) if self.answered else None


_COLUMNS = {"bureau": "bureau_id", "district": "district_id"}

_SQL = """
SELECT {column},
       count(*),
       count(*) FILTER (WHERE satisfaction = %(satisfied)s),
       count(*) FILTER (WHERE satisfaction = %(basically)s),
       count(*) FILTER (WHERE satisfaction = %(not_satisfied)s)
FROM incidents_callback
WHERE reached AND satisfaction <> '' AND created_at >= %(start)s AND created_at < %(end)s
  AND {column} IS NOT NULL {district}
GROUP BY {column}
"""


def satisfaction_rates(dimension: str, start: datetime, end: datetime,
                       district_id: int | None = None) -> dict[int, SatisfactionFigures]:
    """Figures per bureau (`dimension="bureau"`) or district (`"district"`) with answered callbacks in
    [start, end), keyed by the bureau's or district's id; only one district's callbacks when `district_id` is
    given (as the evaluation scopes a district centre)."""
    column = _COLUMNS[dimension]
    with reading().cursor() as cur:
        cur.execute(_SQL.format(column=column, district="AND district_id = ANY(%(district)s)" if district_id else ""),
                    {"start": start, "end": end, "district": lineage(district_id), "satisfied": Satisfaction.SATISFIED,
                     "basically": Satisfaction.BASICALLY, "not_satisfied": Satisfaction.NOT_SATISFIED})
        return {row[0]: SatisfactionFigures(*row) for row in cur.fetchall()}
