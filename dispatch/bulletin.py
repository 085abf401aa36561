"""The bulletin (通报) the command centre issues each month, for the city or one district: the period's totals
and rates beside last month's and last year's, the rankings of bureaus and of districts (streets, for a
district) with the composite score and its parts, the worst overdue cases, the top categories, the hot spots
(the busiest cells, on a small map drawn here as SVG — no tiles in a PDF), the inspectors' figures, and a short
summary written from the numbers. Every figure comes from dispatch.evaluation's definitions.

`figures()` computes them (a JSON-able dict); `render_pdf()` prints them on A4 with WeasyPrint and the Noto CJK
fonts; `tables()` gives the tables for CSV and XLSX; `issue_due()` is the scheduler's monthly job."""

import io
import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from citygrid.replicas import reading
from grids.generations import lineage
from grids.models import Area, Level
from incidents.models import NOT_DUE_STATUSES

from . import evaluation

log = logging.getLogger("citygrid.bulletin")
TOP = 10  # rows of the lists (overdue cases, categories, hot spots, inspectors)
MAP_CELLS = 400  # busiest cells drawn on the map
RATES = ("closure_rate", "on_time_closure_rate", "on_time_processing_rate", "registered_rate", "dispatch_accuracy",
         "rework_rate", "postponement_rate")
COUNTS = ("reported", "registered", "due", "closed", "closed_on_time", "processed_on_time", "processed_late",
          "overdue_unprocessed", "no_deadline", "dispatched", "returned", "postponed", "escalated")
_DUE = ("LEAST(c.deadline, c.closed_at) >= %(start)s AND LEAST(c.deadline, c.closed_at) < %(end)s AND NOT (c.status "
        "IN ({}))".format(", ".join(f"'{s}'" for s in sorted(NOT_DUE_STATUSES))))


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # exclusive

    def bounds(self) -> tuple[datetime, datetime]:
        tz = timezone.get_current_timezone()
        return datetime.combine(self.start, time.min, tz), datetime.combine(self.end, time.min, tz)

    @property
    def is_month(self) -> bool:
        return self.start.day == 1 and self.end == next_month(self.start)

    def previous(self) -> "Period":
        """Last month for a month; otherwise the same number of days just before."""
        if self.is_month:
            return month_of(self.start - timedelta(days=1))
        return Period(self.start - (self.end - self.start), self.start)

    def last_year(self) -> "Period":
        return Period(_year_before(self.start), _year_before(self.end))


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def month_of(day: date) -> Period:
    return Period(day.replace(day=1), next_month(day))


def _totals(rows: list[evaluation.Figures]) -> dict:
    total = evaluation.total(rows)
    return {"counts": {k: total.counts.get(k, 0) for k in COUNTS}, "rates": total.rates}


def _ranking(rows: list[evaluation.Figures]) -> list[dict]:
    """The units in order, ranked ones numbered (evaluate puts them first); the others without a rank (None)."""
    return [{"rank": i if r.ranked else None, "code": r.code, "name": r.name, "score": r.score,
             "counts": {k: r.counts.get(k, 0) for k in COUNTS}, "rates": r.rates}
            for i, r in enumerate(rows, start=1)]


def _rows(sql: str, params: dict) -> list[tuple]:
    with reading().cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _scope_sql(district_id: int | None) -> str:
    """The district's cases, the rows of every boundary generation (params' "district": lineage(district_id))."""
    return "AND c.district_id = ANY(%(district)s)" if district_id else ""


def worst_overdue(period: Period, district_id: int | None) -> list[dict]:
    """The due cases furthest past their deadline at the period's end: never processed, or processed late."""
    start, end = period.bounds()
    rows = _rows(f"""
        SELECT c.number, k.name_zh, coalesce(a.name, ''), coalesce(b.name, ''), c.deadline, c.processed_at,
               extract(epoch FROM (LEAST(coalesce(c.processed_at, %(end)s), %(end)s) - c.deadline)) / 86400
        FROM incidents_case c JOIN incidents_category k ON k.id = c.category_id
        LEFT JOIN grids_area a ON a.id = c.community_id LEFT JOIN grids_bureau b ON b.id = c.bureau_id
        WHERE {_DUE} {_scope_sql(district_id)} AND c.deadline < %(end)s
          AND (c.processed_at IS NULL OR c.processed_at > c.deadline)
        ORDER BY 7 DESC, c.number LIMIT {TOP}""", {"start": start, "end": end, "district": lineage(district_id)})
    tz = timezone.get_current_timezone()
    return [{"number": n, "category": cat, "community": community, "bureau": bureau,
             "deadline": deadline.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
             "processed": processed.astimezone(tz).strftime("%Y-%m-%d %H:%M") if processed and processed < end else "",
             "days_late": round(float(days), 1)}
            for n, cat, community, bureau, deadline, processed, days in rows]


def top_categories(period: Period, district_id: int | None) -> list[dict]:
    """The subclasses most reported in the period, with their share and last period's count."""
    start, end = period.bounds()
    before_start, before_end = period.previous().bounds()
    rows = _rows(f"""
        SELECT k.code, k.name_zh, coalesce(m.name_zh, ''),
               count(*) FILTER (WHERE c.created_at >= %(start)s),
               count(*) FILTER (WHERE c.created_at < %(before_end)s)
        FROM incidents_case c JOIN incidents_category k ON k.id = c.category_id
        LEFT JOIN incidents_category m ON m.id = k.parent_id
        WHERE c.created_at >= %(before_start)s AND c.created_at < %(end)s {_scope_sql(district_id)}
        GROUP BY 1, 2, 3 HAVING count(*) FILTER (WHERE c.created_at >= %(start)s) > 0
        ORDER BY 4 DESC, 1 LIMIT {TOP}""",
                 {"start": start, "end": end, "before_start": before_start, "before_end": before_end,
                  "district": lineage(district_id)})
    total = _rows(f"SELECT count(*) FROM incidents_case c WHERE c.created_at >= %(start)s AND c.created_at < %(end)s "
                  f"{_scope_sql(district_id)}", {"start": start, "end": end, "district": lineage(district_id)})[0][0]
    return [{"code": code, "name": name, "major": major, "count": n, "share": round(n / total, 4) if total else None,
             "previous": before} for code, name, major, n, before in rows]


def hot_spots(period: Period, district_id: int | None) -> tuple[list[dict], str]:
    """The cells with the most cases reported in the period, and an SVG map of them: the busiest cells shaded by
    count over the outlines of the communities, streets and districts around them, the top ten numbered."""
    start, end = period.bounds()
    params = {"start": start, "end": end, "district": lineage(district_id), "limit": MAP_CELLS}
    cells = _rows(f"""
        SELECT g.code, coalesce(a.name, ''), s.n, ST_AsSVG(ST_Transform(g.geom, 3857), 0, 0),
               ST_X(ST_Transform(ST_Centroid(g.geom), 3857)), ST_Y(ST_Transform(ST_Centroid(g.geom), 3857)),
               ST_Transform(g.geom, 3857)
        FROM (SELECT c.cell_id, count(*) AS n FROM incidents_case c
              WHERE c.created_at >= %(start)s AND c.created_at < %(end)s AND c.cell_id IS NOT NULL
                    {_scope_sql(district_id)}
              GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %(limit)s) s
        JOIN grids_cell g ON g.id = s.cell_id LEFT JOIN grids_area a ON a.id = g.community_id
        ORDER BY s.n DESC, g.code""", params)
    top = [{"rank": i, "code": code, "community": community, "count": n}
           for i, (code, community, n, *_rest) in enumerate(cells[:TOP], start=1)]
    return top, _map_svg(district_id, cells)


def _map_svg(district_id: int | None, cells: list[tuple]) -> str:
    """Web Mercator, framed on the drawn cells (or on the whole scope when there are none), outlines simplified
    to about a pixel; everything outside the frame is clipped by the SVG viewBox."""
    with reading().cursor() as cur:
        if cells:
            cur.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(g) AS e FROM "
                        "unnest(%s::geometry[]) g) x", [[c[6] for c in cells]])
        else:
            cur.execute("""SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(
                               ST_Transform(a.geom, 3857)) AS e FROM grids_area a
                           WHERE a.level = %s AND (%s::bigint IS NULL AND a.is_current OR a.id = %s)) x""",
                        [int(Level.DISTRICT if district_id else Level.CITY), district_id, district_id])
        box = cur.fetchone()
        if box is None or box[0] is None:
            return ""
        x0, y0, x1, y1 = box
        side = max(x1 - x0, y1 - y0, 1500.0)  # at least 1.5 km across
        pad = side * 0.12
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        x0, x1 = cx - side / 2 - pad, cx + side / 2 + pad
        y0, y1 = cy - side * 0.35 - pad, cy + side * 0.35 + pad
        unit = (x1 - x0) / 400  # one pixel of a 400-pixel-wide picture
        cur.execute("""
            SELECT a.level, ST_AsSVG(ST_SimplifyPreserveTopology(ST_Transform(a.geom, 3857), %(tolerance)s), 0, 0)
            FROM grids_area a
            WHERE a.level > 1 AND a.is_current
              AND ST_Transform(a.geom, 3857) && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 3857)
            ORDER BY a.level DESC""", {"tolerance": unit, "x0": x0, "y0": y0, "x1": x1, "y1": y1})
        outlines = cur.fetchall()
    width = {Level.DISTRICT: 2.2, Level.STREET: 1.2, Level.COMMUNITY: 0.5}
    peak = max((c[2] for c in cells), default=1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{x0:.0f} {-y1:.0f} {x1 - x0:.0f} {y1 - y0:.0f}" '
             'class="bulletin-map" role="img">',
             f'<rect x="{x0:.0f}" y="{-y1:.0f}" width="{x1 - x0:.0f}" height="{y1 - y0:.0f}" fill="#f4f1ea"/>']
    for code, _community, n, svg, *_rest in reversed(cells):  # the busiest drawn last, on top
        # A log scale: a few very busy cells do not wash the others out.
        shade = ("#fee090", "#fdae61", "#f46d43", "#d73027", "#a50026")[
            min(4, int(5 * math.log1p(n) / math.log1p(peak)))]
        parts.append(f'<path d="{svg}" fill="{shade}" stroke="none"><title>{_esc(code)}: {n}</title></path>')
    parts += [f'<path d="{svg}" fill="none" stroke="#4a5a6a" stroke-width="{unit * width.get(level, 0.5):.1f}"/>'
              for level, svg in outlines]
    labels: list[tuple[float, float]] = []
    for i, (_code, _community, _n, _svg, x, y, _g) in enumerate(cells[:TOP], start=1):
        parts.append(f'<circle cx="{x:.0f}" cy="{-y:.0f}" r="{unit * 4:.0f}" fill="none" stroke="#111" '
                     f'stroke-width="{unit:.1f}"/>')
        # A number only where it does not cover another: neighbouring hot cells keep the first (the table
        # beside the map lists them all).
        if all(abs(x - lx) > unit * 16 or abs(y - ly) > unit * 14 for lx, ly in labels):
            labels.append((x, y))
            parts.append(f'<rect x="{x + unit * 4:.0f}" y="{-y - unit * 16:.0f}" '
                         f'width="{unit * (4 + 7 * len(str(i))):.0f}" height="{unit * 13:.0f}" fill="#fff" '
                         f'fill-opacity="0.85"/>'
                         f'<text x="{x + unit * 6:.0f}" y="{-y - unit * 6:.0f}" font-size="{unit * 12:.0f}" '
                         f'font-family="Noto Sans CJK SC, sans-serif" font-weight="bold" fill="#111">{i}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def inspectors(period: Period, district_id: int | None) -> list[dict]:
    start, end = period.bounds()
    rows = evaluation.evaluate("inspector", start, end, district_id=district_id)
    rows.sort(key=lambda r: (-r.counts["registered"], -r.counts["reported"], r.code))
    return [{"code": r.code, "name": r.name or r.code, "reported": r.counts["reported"],
             "registered": r.counts["registered"], "verifications": r.counts["verified"] + r.counts["reworked"],
             "rates": r.rates, "score": r.score} for r in rows[:TOP]]


def figures(start: date, end: date, district_id: int | None) -> dict:
    """Everything the bulletin prints, for [start, end) and a scope (None: the city), as a JSON-able dict."""
    period = Period(start, end)
    district = Area.objects.get(pk=district_id) if district_id else None
    parts = {}
    for name, p in (("current", period), ("previous", period.previous()), ("last_year", period.last_year())):
        a, b = p.bounds()
        rows = evaluation.evaluate("district", a, b, district_id=district_id)
        parts[name] = {"start": p.start.isoformat(), "end": p.end.isoformat(), **_totals(rows)}
        if name == "current":
            areas = (evaluation.evaluate("street", a, b, district_id=district_id) if district_id else rows)
            bureaus = evaluation.evaluate("bureau", a, b, district_id=district_id)
    top, svg = hot_spots(period, district_id)
    data = {"start": start.isoformat(), "end": end.isoformat(), "is_month": period.is_month,
            "scope": {"code": district.code if district else "",
                      "name": district.name if district else Area.objects.current().filter(level=Level.CITY)
                      .order_by("code").values_list("name", flat=True).first() or "",
                      "level": "district" if district else "city"},
            "totals": parts, "bureaus": _ranking(bureaus), "areas": _ranking(areas),
            "rank_min_due": settings.EVALUATION_RANK_MIN_DUE,
            "areas_level": "street" if district_id else "district",
            "weights": evaluation.weights(), "overdue": worst_overdue(period, district_id),
            "categories": top_categories(period, district_id), "hot_spots": top, "map_svg": svg,
            "inspectors": inspectors(period, district_id)}
    data["summary"] = summary(data)
    return data


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.2f}%"


def _change_points(now: float | None, before: float | None) -> str:
    """'up 1.20 points' — the change of a rate in percentage points, or nothing to compare."""
    if now is None or before is None:
        return _("no comparison")
    points = round((now - before) * 100, 2)
    if points > 0:
        return _("up %(points).2f points") % {"points": points}
    if points < 0:
        return _("down %(points).2f points") % {"points": -points}
    return _("unchanged")


def _change_count(now: int, before: int) -> str:
    if not before:
        return _("no comparison")
    change = round((now - before) / before * 100, 1)
    if change > 0:
        return _("up %(percent).1f%%") % {"percent": change}
    if change < 0:
        return _("down %(percent).1f%%") % {"percent": -change}
    return _("unchanged")


def summary(data: dict) -> list[str]:
    """A few sentences on the changes, each written from the figures (nothing else is said)."""
    now, before, year = (data["totals"][k] for k in ("current", "previous", "last_year"))
    c, r = now["counts"], now["rates"]
    lines = [
        _("Reported %(reported)d cases (%(vs_prev)s on the previous period, %(vs_year)s on a year before); "
          "registered %(registered)d, registration rate %(rate)s.") % {
            "reported": c["reported"], "vs_prev": _change_count(c["reported"], before["counts"]["reported"]),
            "vs_year": _change_count(c["reported"], year["counts"]["reported"]), "registered": c["registered"],
            "rate": _pct(r["registered_rate"])},
        _("Due for closure %(due)d, closed %(closed)d: closure rate %(closure)s (%(closure_change)s on the previous "
          "period); closed on time %(on_time)d: on-time closure rate %(on_time_rate)s (%(on_time_change)s).") % {
            "due": c["due"], "closed": c["closed"], "closure": _pct(r["closure_rate"]),
            "closure_change": _change_points(r["closure_rate"], before["rates"]["closure_rate"]),
            "on_time": c["closed_on_time"], "on_time_rate": _pct(r["on_time_closure_rate"]),
            "on_time_change": _change_points(r["on_time_closure_rate"], before["rates"]["on_time_closure_rate"])},
    ]
    if c["overdue_unprocessed"]:
        worst = max(data["bureaus"], key=lambda b: b["counts"]["overdue_unprocessed"], default=None)
        line = _("%(n)d cases went past their deadline without being processed") % {"n": c["overdue_unprocessed"]}
        if worst and worst["counts"]["overdue_unprocessed"]:
            line += _(", most of them at %(bureau)s (%(count)d)") % {
                "bureau": worst["name"], "count": worst["counts"]["overdue_unprocessed"]}
        lines.append(line + _("."))
    scored = [b for b in data["bureaus"] if b["score"] is not None and b["rank"] is not None]  # the ranked ones
    if len(scored) >= 2:
        lines.append(_("Bureaus: first %(first)s (%(first_score).1f), last %(last)s (%(last_score).1f).") % {
            "first": scored[0]["name"], "first_score": scored[0]["score"], "last": scored[-1]["name"],
            "last_score": scored[-1]["score"]})
    if data["categories"]:
        top = data["categories"][0]
        lines.append(_("Most reported: %(name)s, %(count)d cases (%(share)s of all).") % {
            "name": top["name"], "count": top["count"], "share": _pct(top["share"])})
    if data["hot_spots"]:
        spot = data["hot_spots"][0]
        lines.append(_("Busiest cell: %(code)s in %(community)s, %(count)d cases.") % spot)
    if c["no_deadline"]:
        lines.append(_("%(n)d cases without a time limit were closed; they count neither as on time nor as late.")
                     % {"n": c["no_deadline"]})
    return lines


def title(data: dict) -> str:
    start = date.fromisoformat(data["start"])
    scope = data["scope"]["name"] or _("the city")
    if data["is_month"]:
        return _("Monthly bulletin of %(scope)s, %(year)d-%(month)02d") % {"scope": scope, "year": start.year,
                                                                             "month": start.month}
    end = date.fromisoformat(data["end"]) - timedelta(days=1)
    return _("Bulletin of %(scope)s, %(start)s to %(end)s") % {"scope": scope, "start": start, "end": end}


def context(data: dict) -> dict:
    """What the bulletin's template reads: the figures, with the rates' changes worked out."""
    now, before, year = (data["totals"][k] for k in ("current", "previous", "last_year"))
    labels = {"due": _("Due for closure"), "closed": _("Cases closed"), "closed_on_time": _("Cases closed on time"),
              "closure_rate": _("Closure rate"), "on_time_closure_rate": _("On-time closure rate"),
              "on_time_processing_rate": _("On-time processing rate"), "reported": _("Cases reported"),
              "registered": _("Cases registered"), "registered_rate": _("Registration rate"),
              "dispatch_accuracy": _("Dispatch accuracy"), "rework_rate": _("Rework rate"),
              "postponement_rate": _("Postponement rate"), "overdue_unprocessed": _("Overdue, not processed"),
              "processed_late": _("Processed late"), "no_deadline": _("Closed without a time limit")}
    totals = []
    for key, label in labels.items():
        if key in now["rates"]:
            totals.append({"label": label, "value": _pct(now["rates"][key]), "previous": _pct(before["rates"][key]),
                           "last_year": _pct(year["rates"][key]),
                           "vs_previous": _change_points(now["rates"][key], before["rates"][key]),
                           "vs_last_year": _change_points(now["rates"][key], year["rates"][key])})
        else:
            totals.append({"label": label, "value": now["counts"][key], "previous": before["counts"][key],
                           "last_year": year["counts"][key],
                           "vs_previous": _change_count(now["counts"][key], before["counts"][key]),
                           "vs_last_year": _change_count(now["counts"][key], year["counts"][key])})

    def ranked(rows):
        return [{**row, "pct": {k: _pct(v) for k, v in row["rates"].items()}} for row in rows]

    rate_labels = {**labels, "satisfaction_rate": _("Satisfaction rate")}
    weights = [(rate_labels.get(metric, evaluation.NAMES_ZH.get(metric, metric)), w)
               for metric, w in data["weights"].items() if w]
    return {"data": data, "title": title(data), "totals": totals, "weights": weights,
            "bureaus": ranked(data["bureaus"]), "areas": ranked(data["areas"]),
            "inspectors": ranked(data["inspectors"]),
            "categories": [{**c, "share_pct": _pct(c["share"])} for c in data["categories"]]}


def render_html(data: dict, *, standalone: bool = True) -> str:
    """The bulletin as an A4 document (standalone: with its stylesheet inline, as WeasyPrint prints it)."""
    css = ""
    if standalone:
        from django.contrib.staticfiles import finders

        with open(finders.find("dispatch/bulletin.css"), encoding="utf-8") as f:
            css = f.read()
    return render_to_string("dispatch/bulletin_document.html", {**context(data), "standalone": standalone,
                                                                 "inline_css": css})


def render_pdf(data: dict) -> bytes:
    """The bulletin as PDF: WeasyPrint (HTML and CSS to PDF through Pango) with the Noto CJK fonts from Debian."""
    # Not ten INFO lines per bulletin (some of them written while the package is imported).
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    from weasyprint import HTML

    return HTML(string=render_html(data), base_url=None).write_pdf()


def tables(data: dict) -> list[tuple[str, list[list]]]:
    """The bulletin's tables, header row first, for CSV and XLSX (codes and numbers as they are)."""
    ctx = context(data)
    rate_keys = ("closure_rate", "on_time_closure_rate", "on_time_processing_rate", "registered_rate",
                 "dispatch_accuracy", "rework_rate", "postponement_rate")
    count_keys = ("due", "closed", "closed_on_time", "overdue_unprocessed", "reported", "registered")
    names = evaluation.NAMES_ZH

    def ranking(rows):
        return [[_("Rank"), _("Code"), _("Name"), _("Score"), *(names[k] for k in count_keys),
                 *(names[k] for k in rate_keys)]] + [
            [r["rank"], r["code"], r["name"], r["score"], *(r["counts"][k] for k in count_keys),
             *(r["rates"][k] for k in rate_keys)] for r in rows]

    return [
        (_("Totals"), [[_("Indicator"), _("This period"), _("Previous period"), _("A year before")]]
         + [[t["label"], t["value"], t["previous"], t["last_year"]] for t in ctx["totals"]]),
        (_("Bureaus"), ranking(data["bureaus"])),
        (_("Streets") if data["areas_level"] == "street" else _("Districts"), ranking(data["areas"])),
        (_("Worst overdue cases"), [[_("Case"), _("Category"), _("Community"), _("Bureau"), _("Deadline"),
                                     _("Processing reported"), _("Days late")]]
         + [[o["number"], o["category"], o["community"], o["bureau"], o["deadline"], o["processed"], o["days_late"]]
            for o in data["overdue"]]),
        (_("Top categories"), [[_("Code"), _("Category"), _("Class"), _("Number of cases"), _("Share"),
                                _("Previous period")]]
         + [[c["code"], c["name"], c["major"], c["count"], c["share"], c["previous"]] for c in data["categories"]]),
        (_("Hot spots"), [[_("Rank"), _("Cell"), _("Community"), _("Number of cases")]]
         + [[h["rank"], h["code"], h["community"], h["count"]] for h in data["hot_spots"]]),
        (_("Inspectors"), [[_("Name"), _("Reports"), _("Valid reports"), _("Valid report rate"), _("Verifications"),
                            _("Verification on time")]]
         + [[i["name"], i["reported"], i["registered"], i["rates"]["valid_report_rate"], i["verifications"],
             i["rates"]["verification_on_time_rate"]] for i in data["inspectors"]]),
    ]


def to_xlsx(data: dict) -> bytes:
    """The tables as an XLSX workbook, one sheet each (openpyxl). Text is stored as text, never as a formula."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    from citygrid.exports import safe_cell

    def value_of(value):  # control characters have no place in a workbook: openpyxl refuses them
        return ILLEGAL_CHARACTERS_RE.sub("", safe_cell(value)) if isinstance(value, str) else value

    book = Workbook()
    book.remove(book.active)
    for name, rows in tables(data):
        sheet = book.create_sheet(name[:31])
        for row in rows:
            sheet.append([value_of(v) for v in row])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for column in sheet.columns:
            sheet.column_dimensions[column[0].column_letter].width = max(
                8, min(40, max(len(str(c.value or "")) for c in column) * 1.6))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_rows(data: dict):
    """The tables one after another, each under its title, a blank line between them."""
    for name, rows in tables(data):
        yield [name]
        yield from rows
        yield []


def first_working_day(month: date) -> date:
    from .calendar import WorkingCalendar

    calendar = WorkingCalendar.load()
    day = month.replace(day=1)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def issue(period: Period, district_id: int | None):
    """Compute, print and keep the bulletin of a period and scope (again, if it exists: replaced)."""
    from django.core.files.base import ContentFile
    from django.db import transaction

    from .models import Bulletin

    with translation.override("zh-hans"):  # what the command centre issues is in Chinese
        data = figures(period.start, period.end, district_id)
        pdf = render_pdf(data)
    scope = Area.objects.filter(pk=district_id).values_list("code", flat=True).first() or "city"
    with transaction.atomic():
        old = Bulletin.objects.select_for_update().order_by("pk").filter(start=period.start, end=period.end,
                                                          district_id=district_id).first()
        bulletin = old or Bulletin(start=period.start, end=period.end, district_id=district_id)
        bulletin.generated_at, bulletin.figures = timezone.now(), data
        previous_file = bulletin.pdf.name if old else None
        bulletin.pdf.save(f"bulletin-{period.start:%Y%m}-{scope}.pdf", ContentFile(pdf), save=False)
        bulletin.save()
    if previous_file and previous_file != bulletin.pdf.name:
        bulletin.pdf.storage.delete(previous_file)
    return bulletin


def issue_due(today: date | None = None) -> int:
    """The scheduler's job: from the first working day of a month on, last month's bulletins of the city and of
    every district exist (those missing are issued now, so a scheduler that was down catches up). Returns how
    many were issued."""
    from .models import Bulletin

    today = today or timezone.localdate()
    if today < first_working_day(today):
        return 0
    period = month_of(today.replace(day=1) - timedelta(days=1))
    issued = 0
    scopes = [None, *Area.objects.current().filter(level=Level.DISTRICT).order_by("code").values_list("pk", flat=True)]
    for district_id in scopes:
        if not Bulletin.objects.filter(start=period.start, end=period.end, district_id=district_id).exists():
            issue(period, district_id)
            issued += 1
    if issued:
        log.info("bulletins of %s issued: %d", period.start.strftime("%Y-%m"), issued)
    return issued
