"""Performance evaluation (综合评价) of bureaus, districts, streets, cells and inspectors over a period, with the
indicators defined as the cities' published monthly bulletins define them (GB/T 30428.4; see
../shared/docs/gbt30428-notes.md). Every indicator is defined here, once.

**Due figures** — counted over the cases *due* in the period, judged as at the period's end (so a month's
figures are the same whenever they are computed, and a bulletin issued on the first working day of the next
month says what a later recomputation says):

    应结案数 due              registered cases with a deadline (not cancelled nor merged) whose due time — the
                             earlier of the deadline and the closure — falls in the period. A case closed early
                             counts in the period it was closed; any other in the period of its deadline, closed
                             or not. Each case is due in exactly one period, so months add up to the year, and a
                             case closed late never moves out of the month it went late in.
    结案数 closed              due cases closed before the period's end
    按期结案数 closed_on_time   closed cases whose processing report (the last, the one verified) came by the deadline
    按期处置数 processed_on_time  due cases processed by the deadline (closed or not yet)
    超期处置数 processed_late    due cases processed after the deadline, before the period's end
    超期未处置数 overdue_unprocessed  due cases whose deadline passed with no processing report by the period's end
    结案率 closure_rate               = closed / due
    按期结案率 on_time_closure_rate    = closed_on_time / due
    按期处置率 on_time_processing_rate = processed_on_time / due
    无时限结案数 no_deadline    cases without a deadline closed in the period: neither on time nor late, reported apart

The deadline is the processing time limit in force (an approved postponement moves it: 延期 is allowed). A
case is credited to its bureau (the one responsible now; a returned case waiting for re-dispatch has none), its
district, street and cell.

**Flow figures** — steps of the case log that happened in the period, each credited to the bureau responsible
at that step and to the district, street and cell where the case was then:

    受理数 reported, 立案数 registered, 派遣数 dispatched, 退回数 returned, 延期数 postponed (approved),
    处置反馈数 processing_reports (with processing_reports_on_time, those by the deadline in force; reports
    without a deadline are in neither), 核查数 verified + reworked, 结案操作数 closures (closures in the period,
    whichever period the case was due in — not 结案数), 督办数 escalated (overdue escalations; one per case and
    deadline, so counting them needs no DISTINCT, which would force the aggregate to sort a million entries)
    立案率 registered_rate  = registered / reported
    派遣准确率 dispatch_accuracy = 1 − returned / dispatched
    返工率 rework_rate      = reworked / (verified + reworked)     (lower is better)
    延期率 postponement_rate = postponed / dispatched              (lower is better)

**Inspectors** (网格员, the standard's own indicators): 上报数 reported (their reports), 有效上报数 registered
(their reports registered in the period), 有效上报率 valid_report_rate = registered / reported, 核查数 the
verifications they made, 核查及时率 verification_on_time_rate = verifications within the verification stage limit
/ verifications judged. (核实 — checking a public report before registration — is not a separate step here:
registration covers it.)

**Composite score** (0–100) = Σ weight × indicator (rework and postponement as 1 − rate) / Σ weights, over the
indicators the unit has; weights are data (EvaluationWeight). Rates from elsewhere join it as data too:
`register_rate("satisfaction_rate", provider)` adds the callbacks' satisfaction rate (满意率) once the hotline
desk records callbacks, and an EvaluationWeight row gives it its weight.

**Ranking**: best score first among the units with at least EVALUATION_RANK_MIN_DUE cases due (5 unless set), then
the others, also by score, unranked: too few cases for a rate to say much (one case closed on time is 100 points).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from citygrid.replicas import reading
from incidents.models import NOT_DUE_STATUSES

from .models import EvaluationWeight

# Flow key (on the log `l`), due key (on the cases `c`), the units' table and their code and name columns. The log
# entry carries its bureau and place (CaseLog), so that the flow pass reads the period's months of the log alone;
# only the inspectors' flow joins the cases (a report's reporter).
DIMENSIONS = {
    "bureau": ("l.bureau_id", "c.bureau_id", "grids_bureau", "code", "name"),
    "district": ("l.district_id", "c.district_id", "grids_area", "code", "name"),
    "street": ("l.street_id", "c.street_id", "grids_area", "code", "name"),
    # a cell has no name of its own: it reads by its community's (和平社区), its code beside it
    "cell": ("l.cell_id", "c.cell_id", "grids_cell", "code",
             "(SELECT a.name FROM grids_area a WHERE a.id = grids_cell.community_id)"),
    # Reports count for their reporter; verifications for the inspector who made them (_VERIFY_SQL).
    "inspector": ("c.reporter_id", None, "auth_user", "username", "first_name"),
}
# Default weights of the composite score (EvaluationWeight rows override them). A weight of 0 leaves an
# indicator out until someone gives it one.
DEFAULT_WEIGHTS = {"registered_rate": 1.0, "dispatch_accuracy": 1.0, "on_time_closure_rate": 3.0, "rework_rate": 1.0,
                   "closure_rate": 2.0, "on_time_processing_rate": 0.0, "postponement_rate": 0.0,
                   "satisfaction_rate": 1.0}
INSPECTOR_WEIGHTS = {"valid_report_rate": 1.0, "verification_on_time_rate": 1.0}
LOWER_IS_BETTER = frozenset({"rework_rate", "postponement_rate"})
# Chinese names, as the bulletins print them (the pages translate through gettext; these are the standard's).
NAMES_ZH = {
    "due": "应结案数", "closed": "结案数", "closed_on_time": "按期结案数", "processed_on_time": "按期处置数",
    "processed_late": "超期处置数", "overdue_unprocessed": "超期未处置数", "no_deadline": "无时限结案数",
    "reported": "受理数", "registered": "立案数", "dispatched": "派遣数", "returned": "退回数", "postponed": "延期数",
    "processing_reports": "处置反馈数", "processing_reports_on_time": "按期处置反馈数", "verified": "核查通过数",
    "reworked": "返工数", "closures": "结案操作数", "escalated": "督办数", "verifications_on_time": "按时核查数",
    "verifications_judged": "有时限核查数",
    "closure_rate": "结案率", "on_time_closure_rate": "按期结案率", "on_time_processing_rate": "按期处置率",
    "registered_rate": "立案率", "dispatch_accuracy": "派遣准确率", "rework_rate": "返工率",
    "postponement_rate": "延期率", "satisfaction_rate": "满意率", "valid_report_rate": "有效上报率",
    "verification_on_time_rate": "核查及时率",
}
FLOW_COUNTS = ("reported", "registered", "dispatched", "returned", "postponed", "processing_reports",
               "processing_reports_on_time", "verified", "reworked", "closures", "escalated")
VERIFY_COUNTS = ("verified", "reworked", "verifications_on_time", "verifications_judged")
DUE_COUNTS = ("due", "closed", "closed_on_time", "processed_on_time", "processed_late", "overdue_unprocessed",
              "no_deadline")
# The indicators weights can be given to, as the admin offers them.
METRIC_LABELS = {"registered_rate": _("Registration rate"), "dispatch_accuracy": _("Dispatch accuracy"),
                 "on_time_closure_rate": _("On-time closure rate"), "rework_rate": _("Rework rate"),
                 "closure_rate": _("Closure rate"), "on_time_processing_rate": _("On-time processing rate"),
                 "postponement_rate": _("Postponement rate"), "satisfaction_rate": _("Satisfaction rate"),
                 "valid_report_rate": _("Valid report rate"),
                 "verification_on_time_rate": _("Verification on time")}
# The inspector ranking ranks inspectors: the reports of operators and dispatchers (phone calls entered for
# citizens) are not theirs.
ONLY = {"inspector": "AND c.reporter_id IN (SELECT ug.user_id FROM auth_user_groups ug JOIN auth_group g "
                     "ON g.id = ug.group_id WHERE g.name = 'inspector')"}

# Flow: one pass over the period's log. Each entry already carries how long the case had been in its previous
# status and, for processing and verification, whether it came by its deadline (NULL: it had none).
_FLOW_SQL = """
SELECT {key} AS k,
       count(*) FILTER (WHERE l.action = 'report'),
       count(*) FILTER (WHERE l.action = 'register'),
       count(*) FILTER (WHERE l.action = 'dispatch'),
       count(*) FILTER (WHERE l.action = 'return'),
       count(*) FILTER (WHERE l.action = 'approve_postponement'),
       count(*) FILTER (WHERE l.action = 'process'),
       count(*) FILTER (WHERE l.action = 'process' AND l.deadline_met),
       count(*) FILTER (WHERE l.action = 'verify_pass'),
       count(*) FILTER (WHERE l.action = 'verify_fail'),
       count(*) FILTER (WHERE l.action = 'close'),
       count(*) FILTER (WHERE l.action = 'escalate'),
       round((avg(l.seconds_in_from_status) FILTER (WHERE l.action = 'register') / 3600)::numeric, 2)::float8,
       round((avg(l.seconds_in_from_status) FILTER (WHERE l.action = 'dispatch') / 3600)::numeric, 2)::float8,
       round((avg(l.seconds_in_from_status) FILTER (WHERE l.action = 'process') / 3600)::numeric, 2)::float8,
       round((avg(l.seconds_in_from_status) FILTER (WHERE l.action = 'verify_pass') / 3600)::numeric, 2)::float8
FROM incidents_caselog l {join}
WHERE l.created_at >= %(start)s AND l.created_at < %(end)s {district} {only}
  AND l.action IN ('report', 'register', 'dispatch', 'return', 'approve_postponement', 'process', 'verify_pass',
                   'verify_fail', 'close', 'escalate')
  AND {key} IS NOT NULL
GROUP BY 1
"""
# Inspectors' verifications (核查), by who made them, through the partial index of verification entries.
_VERIFY_SQL = """
SELECT l.actor_id,
       count(*) FILTER (WHERE l.action = 'verify_pass'),
       count(*) FILTER (WHERE l.action = 'verify_fail'),
       count(*) FILTER (WHERE l.deadline_met),
       count(*) FILTER (WHERE l.deadline_met IS NOT NULL)
FROM incidents_caselog l
WHERE l.action IN ('verify_pass', 'verify_fail') AND l.created_at >= %(start)s AND l.created_at < %(end)s
  AND l.actor_id IS NOT NULL {district}
GROUP BY 1
"""
STAGES = ("register", "dispatch", "process", "verify")  # average hours in the status each step ends
# Due: one pass over the cases due in the period, found through the index on least(deadline, closed_at)
# (case_due_idx, whose condition the WHERE clause repeats word for word so that the planner can use it).
_DUE_SQL = """
SELECT {key} AS k,
       count(*) FILTER (WHERE c.deadline IS NOT NULL),
       count(*) FILTER (WHERE c.deadline IS NOT NULL AND c.status = 'closed' AND c.closed_at < %(end)s),
       count(*) FILTER (WHERE c.deadline IS NOT NULL AND c.status = 'closed' AND c.closed_at < %(end)s
                        AND c.processed_at <= c.deadline),
       count(*) FILTER (WHERE c.processed_at < %(end)s AND c.processed_at <= c.deadline),
       count(*) FILTER (WHERE c.processed_at < %(end)s AND c.processed_at > c.deadline),
       count(*) FILTER (WHERE c.deadline < %(end)s AND (c.processed_at IS NULL OR c.processed_at >= %(end)s)),
       count(*) FILTER (WHERE c.deadline IS NULL AND c.status = 'closed')
FROM incidents_case c
WHERE LEAST(c.deadline, c.closed_at) >= %(start)s AND LEAST(c.deadline, c.closed_at) < %(end)s
  AND NOT (c.status IN ({not_due})) {district} AND {key} IS NOT NULL
GROUP BY 1
""".replace("{not_due}", ", ".join(f"'{s}'" for s in sorted(NOT_DUE_STATUSES)))


def due_sql(key: str, extra: str = "") -> str:
    """The due pass grouped by `key`, with further conditions on the cases `c` (`extra`, starting with AND)."""
    return _DUE_SQL.format(key=key, district=extra)


# Rates from elsewhere, per indicator: provider(dimension, start, end, district_id) → {unit id: rate}.
RateProvider = Callable[[str, datetime, datetime, int | None], dict[int, float]]
_EXTRA_RATES: dict[str, RateProvider] = {}


def register_rate(indicator: str, provider: RateProvider) -> None:
    """Let an indicator computed elsewhere (the callbacks' 满意率: `satisfaction_rate`) join every unit's rates
    and, with a weight in EvaluationWeight, the composite score."""
    _EXTRA_RATES[indicator] = provider


def unregister_rate(indicator: str) -> None:
    _EXTRA_RATES.pop(indicator, None)


@dataclass
class Figures:
    key: int
    code: str
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    hours: dict[str, float | None] = field(default_factory=dict)
    rates: dict[str, float | None] = field(default_factory=dict)
    score: float | None = None
    ranked: bool = True  # enough cases due to be ranked (settings.EVALUATION_RANK_MIN_DUE); inspectors always

    def __getattr__(self, item: str):  # f.due, f.closed… read the counts
        counts = self.__dict__.get("counts", {})
        if item in counts:
            return counts[item]
        raise AttributeError(item)

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, **self.counts, "hours": self.hours, "rates": self.rates,
                "score": self.score, "ranked": self.ranked}


UNIT_ZERO = dict.fromkeys((*FLOW_COUNTS, *DUE_COUNTS), 0)
INSPECTOR_ZERO = dict.fromkeys((*FLOW_COUNTS, *VERIFY_COUNTS), 0)


def rates_of(counts: dict[str, int], inspector: bool = False) -> dict[str, float | None]:
    """The rates of one unit (or of a total) from its counts, as the module docstring defines them. (Written out
    rather than through a helper: it runs once for each of 100,000 cells.)"""
    zero = INSPECTOR_ZERO if inspector else UNIT_ZERO
    c = counts if counts.keys() >= zero.keys() else {**zero, **counts}
    if inspector:
        return {"valid_report_rate": round(c["registered"] / c["reported"], 4) if c["reported"] else None,
                "verification_on_time_rate": round(c["verifications_on_time"] / c["verifications_judged"], 4)
                if c["verifications_judged"] else None}
    due, dispatched, verifications = c["due"], c["dispatched"], c["verified"] + c["reworked"]
    return {"closure_rate": round(c["closed"] / due, 4) if due else None,
            "on_time_closure_rate": round(c["closed_on_time"] / due, 4) if due else None,
            "on_time_processing_rate": round(c["processed_on_time"] / due, 4) if due else None,
            "registered_rate": round(c["registered"] / c["reported"], 4) if c["reported"] else None,
            "dispatch_accuracy": round((dispatched - c["returned"]) / dispatched, 4) if dispatched else None,
            "rework_rate": round(c["reworked"] / verifications, 4) if verifications else None,
            "postponement_rate": round(c["postponed"] / dispatched, 4) if dispatched else None}


def weights(inspector: bool = False) -> dict[str, float]:
    defaults = INSPECTOR_WEIGHTS if inspector else DEFAULT_WEIGHTS
    stored = dict(EvaluationWeight.objects.filter(metric__in=list(defaults)).values_list("metric", "weight"))
    extra = {} if inspector else dict(EvaluationWeight.objects.filter(metric__in=list(_EXTRA_RATES))
                                      .exclude(metric__in=list(defaults)).values_list("metric", "weight"))
    return {**{metric: stored.get(metric, default) for metric, default in defaults.items()}, **extra}


def score(rates: dict[str, float | None], w: dict[str, float]) -> float | None:
    total = value = 0.0
    for metric, weight in w.items():
        if weight <= 0:
            continue
        rate = rates.get(metric)
        if rate is None:
            continue
        value += weight * ((1 - rate) if metric in LOWER_IS_BETTER else rate)
        total += weight
    return round(100 * value / total, 2) if total else None


def evaluate(dimension: str, start: datetime, end: datetime, district_id: int | None = None) -> list[Figures]:
    """Figures for every unit of a dimension active in [start, end), best score first; counting only the cases
    of one district when `district_id` is given (a district centre sees its own district, nobody else's)."""
    flow_key, due_key, table, code_col, name_col = DIMENSIONS[dimension]
    from grids.generations import lineage

    # The district in every boundary generation: its cases keep the district row of their time.
    params = {"start": start, "end": end, "district": lineage(district_id)}
    district = "AND c.district_id = ANY(%(district)s)" if district_id is not None else ""
    # Steps count in the district where they happened (the entry's own place), cases due in the case's district.
    step_district = "AND l.district_id = ANY(%(district)s)" if district_id is not None else ""
    counts: dict[int, dict[str, int]] = {}
    hours: dict[int, dict[str, float | None]] = {}
    with reading().cursor() as cur:
        join = "" if flow_key.startswith("l.") else "JOIN incidents_case c ON c.id = l.case_id"
        cur.execute(_FLOW_SQL.format(key=flow_key, join=join, district=step_district, only=ONLY.get(dimension, "")),
                    params)
        n, zero = len(FLOW_COUNTS), INSPECTOR_ZERO if dimension == "inspector" else UNIT_ZERO
        for k, *values in cur.fetchall():
            row = counts[k] = zero.copy()
            row.update(zip(FLOW_COUNTS, values[:n], strict=True))
            hours[k] = dict(zip(STAGES, values[n:], strict=True))  # rounded by the database
        if dimension == "inspector":
            for row in counts.values():  # his reports' verifications are not his
                row.update(dict.fromkeys(VERIFY_COUNTS, 0))
            cur.execute(_VERIFY_SQL.format(district=step_district), params)
            for k, *values in cur.fetchall():
                counts.setdefault(k, zero.copy()).update(zip(VERIFY_COUNTS, values, strict=True))
        if due_key:
            cur.execute(due_sql(due_key, district), params)
            for k, *values in cur.fetchall():
                counts.setdefault(k, zero.copy()).update(zip(DUE_COUNTS, values, strict=True))
        cur.execute(f"SELECT id, {code_col}, {name_col} FROM {table} WHERE id = ANY(%s)", [list(counts)])
        labels = {pk: (code, name) for pk, code, name in cur.fetchall()}
    inspector = dimension == "inspector"
    w = {metric: weight for metric, weight in weights(inspector).items() if weight > 0}
    extra = {} if inspector else {name: provider(dimension, start, end, district_id)
                                  for name, provider in _EXTRA_RATES.items()}
    out = []
    no_hours = dict.fromkeys(STAGES)
    min_due = settings.EVALUATION_RANK_MIN_DUE
    for k, unit_counts in counts.items():
        rates = rates_of(unit_counts, inspector)
        for name, by_unit in extra.items():
            rates[name] = by_unit.get(k)
        code, name = labels.get(k, (str(k), ""))
        ranked = inspector or unit_counts["due"] >= min_due
        out.append(Figures(k, code, name, unit_counts, hours.get(k, no_hours), rates, score(rates, w), ranked))
    out.sort(key=lambda f: (not f.ranked, f.score is None, -(f.score or 0), f.code))
    return out


def total(rows: list[Figures], code: str = "", name: str = "") -> Figures:
    """The sum of units that partition the cases (districts, streets, cells), with its rates recomputed."""
    summed: dict[str, int] = {}
    for row in rows:
        for k, v in row.counts.items():
            summed[k] = summed.get(k, 0) + v
    rates = rates_of(summed)
    return Figures(0, code, name, summed, {}, rates, score(rates, weights()))
