"""Performance evaluation (综合评价) of bureaus, districts, streets, cells and inspectors over a period.

Every figure counts entries of the case log that fall inside the period — a registration, a dispatch, a
return, a processing report, a verification, a closure — so a case that moves between states during the
period is counted where each step happened, whatever its status is now. Aggregated in PostgreSQL.

    registered_rate  = registrations / reports                    (立案率)
    dispatch_accuracy = 1 − returns / dispatches                  (派遣准确率)
    on_time_rate     = processing reports by the deadline / all    (按期处置率)
    rework_rate      = failed verifications / verifications        (返工率)
    closure_rate     = closures / registrations                    (结案率)
    score            = Σ weight × indicator (rework as 1 − rate) / Σ weights × 100
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils.translation import gettext_lazy as _

from .models import EvaluationWeight

DIMENSIONS = {
    "bureau": ("l.bureau_id", "grids_bureau", "code", "name"),
    "district": ("c.district_id", "grids_area", "code", "name"),
    "street": ("c.street_id", "grids_area", "code", "name"),
    "cell": ("c.cell_id", "grids_cell", "code", "code"),
    "inspector": ("c.reporter_id", "auth_user", "username", "first_name"),
}
METRIC_LABELS = {"registered_rate": _("Registration rate"), "dispatch_accuracy": _("Dispatch accuracy"),
                 "on_time_rate": _("On-time rate"), "rework_rate": _("Rework rate"),
                 "closure_rate": _("Closure rate")}
# The inspector ranking ranks inspectors: the reports of operators and dispatchers (phone calls entered for
# citizens) are not theirs.
ONLY = {"inspector": "AND c.reporter_id IN (SELECT ug.user_id FROM auth_user_groups ug JOIN auth_group g "
                     "ON g.id = ug.group_id WHERE g.name = 'inspector')"}
DEFAULT_WEIGHTS = {"registered_rate": 1.0, "dispatch_accuracy": 1.0, "on_time_rate": 3.0, "rework_rate": 1.0,
                   "closure_rate": 2.0}

# One pass over the period's log: each entry already carries how long the case had been in its previous
# status and, for a processing report, whether it met the deadline.
_SQL = """
SELECT {key} AS k,
       count(*) FILTER (WHERE l.action = 'report') AS reported,
       count(*) FILTER (WHERE l.action = 'register') AS registered,
       count(*) FILTER (WHERE l.action = 'dispatch') AS dispatched,
       count(*) FILTER (WHERE l.action = 'return') AS returned,
       count(*) FILTER (WHERE l.action = 'process') AS processed,
       count(*) FILTER (WHERE l.action = 'process' AND l.deadline_met IS NOT FALSE) AS on_time,
       count(*) FILTER (WHERE l.action = 'verify_pass') AS verified,
       count(*) FILTER (WHERE l.action = 'verify_fail') AS reworked,
       count(*) FILTER (WHERE l.action = 'close') AS closed,
       count(DISTINCT l.case_id) FILTER (WHERE l.action = 'escalate') AS overdue,
       avg(l.seconds_in_from_status) FILTER (WHERE l.action = 'register') / 3600,
       avg(l.seconds_in_from_status) FILTER (WHERE l.action = 'dispatch') / 3600,
       avg(l.seconds_in_from_status) FILTER (WHERE l.action = 'process') / 3600,
       avg(l.seconds_in_from_status) FILTER (WHERE l.action = 'verify_pass') / 3600
FROM incidents_caselog l {join}
WHERE l.created_at >= %(start)s AND l.created_at < %(end)s {district} {only}
  AND l.action IN ('report', 'register', 'dispatch', 'return', 'process', 'verify_pass', 'verify_fail', 'close',
                   'escalate')
  AND {key} IS NOT NULL
GROUP BY {key}
"""


@dataclass
class Figures:
    key: int
    code: str
    name: str
    reported: int
    registered: int
    dispatched: int
    returned: int
    processed: int
    on_time: int
    verified: int
    reworked: int
    closed: int
    overdue: int
    hours: dict[str, float | None]
    rates: dict[str, float | None]
    score: float | None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "key"}


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def weights() -> dict[str, float]:
    stored = dict(EvaluationWeight.objects.values_list("metric", "weight"))
    return {metric: stored.get(metric, default) for metric, default in DEFAULT_WEIGHTS.items()}


def _score(rates: dict[str, float | None], w: dict[str, float]) -> float | None:
    total = value = 0.0
    for metric, weight in w.items():
        rate = rates.get(metric)
        if rate is None or weight <= 0:
            continue
        value += weight * ((1 - rate) if metric == "rework_rate" else rate)
        total += weight
    return round(100 * value / total, 2) if total else None


def evaluate(dimension: str, start: datetime, end: datetime, district_id: int | None = None) -> list[Figures]:
    """Figures for every unit of a dimension active in [start, end), best score first; counting only the cases
    of one district when `district_id` is given (a district centre sees its own district, nobody else's)."""
    key, table, code_col, name_col = DIMENSIONS[dimension]
    with connection.cursor() as cur:
        join = "" if key.startswith("l.") and district_id is None else "JOIN incidents_case c ON c.id = l.case_id"
        district = "AND c.district_id = %(district)s" if district_id is not None else ""
        cur.execute(_SQL.format(key=key, join=join, district=district, only=ONLY.get(dimension, "")),
                    {"start": start, "end": end, "district": district_id})
        rows = cur.fetchall()
        cur.execute(f"SELECT id, {code_col}, {name_col} FROM {table} WHERE id = ANY(%s)", [[r[0] for r in rows]])
        labels = {pk: (code, name) for pk, code, name in cur.fetchall()}
    w = weights()
    out = []
    for row in rows:
        (k, reported, registered, dispatched, returned, processed, on_time, verified, reworked, closed,
         overdue, h_reg, h_dis, h_pro, h_ver) = row
        rates = {"registered_rate": _ratio(registered, reported),
                 "dispatch_accuracy": _ratio(dispatched - returned, dispatched) if dispatched else None,
                 "on_time_rate": _ratio(on_time, processed), "rework_rate": _ratio(reworked, verified + reworked),
                 "closure_rate": _ratio(closed, registered)}
        hours = {stage: round(float(h), 2) if h is not None else None
                 for stage, h in zip(("register", "dispatch", "process", "verify"), (h_reg, h_dis, h_pro, h_ver),
                                     strict=True)}
        code, name = labels.get(k, (str(k), ""))
        out.append(Figures(k, code, name, reported, registered, dispatched, returned, processed, on_time, verified,
                           reworked, closed, overdue, hours, rates, _score(rates, w)))
    out.sort(key=lambda f: (f.score is None, -(f.score or 0), f.code))
    return out
