"""The leaders' dashboard figures, aggregated in PostGIS so that the page never receives case points: a density
grid for the heatmap, counts per cell (or per community when the whole city is in view) for the choropleth,
and daily intake/closure, on-time rate and overdue cases by bureau. Each function takes the user, whose
scope (a district, or the whole city) limits what is counted.

City-wide views read the daily tallies (DailyTally, kept by triggers: one row per day, community and major
class); only views zoomed in to cells count cases themselves: the heatmap the cases in the map's box, the
choropleth every case of each cell the box touches."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from citygrid.replicas import reading
from incidents.models import FINAL_STATUSES
from incidents.scoping import user_district_id, user_district_ids

# Written out, not a parameter, so that the planner matches the partial index case_open_deadline_idx.
OPEN_CASES = "NOT (c.status IN ({}))".format(", ".join(f"'{s}'" for s in sorted(FINAL_STATUSES)))
# Below this zoom a cell is a few pixels: the choropleth counts communities instead.
CELL_ZOOM = 14
# Heatmap buckets: about this many screen pixels square at the requested zoom.
BUCKET_PIXELS = 12


@dataclass(frozen=True)
class Filter:
    start: date
    end: date  # exclusive, as in the evaluation API
    major: str = ""  # a major class code (e.g. SJ01) or "" for all
    bbox: tuple[float, float, float, float] | None = None  # WGS84 minLon, minLat, maxLon, maxLat

    def where(self, user: AbstractBaseUser, alias: str = "c", period: str | None = "c.created_at") -> tuple[str, list]:
        """SQL conditions on the cases (table alias `alias`), the period applied to the `period` column."""
        tz = timezone.get_current_timezone()
        clauses, params = ["TRUE"], []
        if period:
            clauses += [f"{period} >= %s", f"{period} < %s"]
            params += [datetime.combine(self.start, time.min, tz),
                       datetime.combine(self.end, time.min, tz)]
        district = user_district_id(user)
        if district:
            clauses.append(f"{alias}.district_id = ANY(%s)")  # the district in every boundary generation
            params.append(user_district_ids(user))
        if self.major:
            clauses.append(f"{alias}.category_id IN (SELECT k.id FROM incidents_category k JOIN incidents_category "
                           "m ON m.id = k.parent_id WHERE m.code = %s)")
            params.append(self.major)
        if self.bbox:
            clauses.append(f"{alias}.location && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
            params.extend(self.bbox)
        return " AND ".join(clauses), params


def tally_where(user: AbstractBaseUser, f: Filter) -> tuple[str, list]:
    """SQL conditions on the daily tallies `t` (with their community `a`) for the filter and the user's scope."""
    clauses, params = ["t.day >= %s", "t.day < %s"], [f.start, f.end]
    district = user_district_id(user)
    if district:
        clauses.append("t.district_id = ANY(%s)")
        params.append(user_district_ids(user))
    if f.major:
        clauses.append("t.major_id = (SELECT id FROM incidents_category WHERE code = %s)")
        params.append(f.major)
    if f.bbox:
        clauses.append("a.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
        params.extend(f.bbox)
    return " AND ".join(clauses), params


def heat(user: AbstractBaseUser, f: Filter, zoom: int) -> dict:
    """Density buckets [lat, lon, count] of the cases reported in the period, bucket size following the zoom:
    the cases themselves when zoomed in to cells, else each community's tally at its centre."""
    size = 360.0 / (256 * 2 ** zoom) * BUCKET_PIXELS
    if zoom >= CELL_ZOOM:
        where, params = f.where(user)
        points = (f"SELECT ST_SnapToGrid(c.location, %s) AS g, count(*) AS n FROM incidents_case c "
                  f"WHERE {where} GROUP BY 1")
    else:
        where, params = tally_where(user, f)
        points = f"""
            SELECT ST_SnapToGrid(ST_PointOnSurface(a.geom), %s) AS g, sum(s.n) AS n FROM (
                SELECT t.community_id AS id, sum(t.reported) AS n FROM dispatch_dailytally t
                JOIN grids_area a ON a.id = t.community_id WHERE {where} GROUP BY 1 HAVING sum(t.reported) > 0) s
            JOIN grids_area a ON a.id = s.id GROUP BY 1"""
    with reading().cursor() as cur:
        cur.execute(f"SELECT round(ST_Y(g)::numeric, 6), round(ST_X(g)::numeric, 6), n::int FROM ({points}) p",
                    [size, *params])
        rows = cur.fetchall()
    peak = max((r[2] for r in rows), default=0)
    return {"bucket_degrees": size, "max": peak, "total": sum(r[2] for r in rows),
            "points": [[float(lat), float(lon), n] for lat, lon, n in rows]}


def choropleth(user: AbstractBaseUser, f: Filter, zoom: int) -> str:
    """A GeoJSON FeatureCollection (as JSON text) of the cells (zoom ≥ CELL_ZOOM, within bbox) or communities with
    cases, each with its count, simplified for the zoom. Written by PostgreSQL whole: three thousand cell polygons
    parsed and written again in Python cost as much as counting their cases."""
    by_cell = zoom >= CELL_ZOOM
    tolerance = 360.0 / (256 * 2 ** zoom) / 2
    if by_cell:
        # The cells in the map's box, each with all its cases of the period (a cell half in view shows its whole
        # count), counted cell by cell on case_cell_time_idx without reading the cases: counting the cases in
        # the box instead read each one's row, scattered over the month's partition, 0.5 s at a million cases.
        where, params = Filter(f.start, f.end, f.major).where(user)
        in_view = "a.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)" if f.bbox else "TRUE"
        rows = f"""
            SELECT a.code, a.code AS name, s.n, a.geom
            FROM grids_cell a CROSS JOIN LATERAL (
                SELECT count(*) AS n FROM incidents_case c WHERE c.cell_id = a.id AND {where}) s
            WHERE {in_view} AND s.n > 0"""
        params = [*params, *(f.bbox or ())]
    else:
        where, params = tally_where(user, f)
        rows = f"""
            SELECT a.code, a.name, s.n::int AS n, a.geom
            FROM (SELECT t.community_id AS id, sum(t.reported) AS n FROM dispatch_dailytally t
                  JOIN grids_area a ON a.id = t.community_id WHERE {where} GROUP BY 1 HAVING sum(t.reported) > 0) s
            JOIN grids_area a ON a.id = s.id"""
    sql = f"""
        SELECT json_build_object(
            'type', 'FeatureCollection', 'level', %s, 'max', coalesce(max(r.n), 0),
            'features', coalesce(json_agg(json_build_object(
                'type', 'Feature', 'id', r.code,
                'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(r.geom, %s), 6)::json,
                'properties', json_build_object('code', r.code, 'name', r.name, 'count', r.n))), '[]'))::text
        FROM ({rows}) r"""
    with reading().cursor() as cur:
        cur.execute(sql, ["cell" if by_cell else "community", tolerance, *params])
        return cur.fetchone()[0]


def cell_figures(user: AbstractBaseUser, f: Filter, code: str) -> dict:
    """One cell's or community's figures in the period: cases by status and by class."""
    where, params = f.where(user)
    with reading().cursor() as cur:
        cur.execute(f"""
            SELECT c.status, m.name_zh, count(*) FROM incidents_case c
            JOIN incidents_category k ON k.id = c.category_id LEFT JOIN incidents_category m ON m.id = k.parent_id
            WHERE {where} AND (c.cell_id IN (SELECT id FROM grids_cell WHERE code = %s)
                               OR c.community_id IN (SELECT id FROM grids_area WHERE code = %s AND level = 4))
            GROUP BY 1, 2""", [*params, code, code])
        rows = cur.fetchall()
    by_status: dict[str, int] = {}
    by_class: dict[str, int] = {}
    for status, major, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        by_class[major or ""] = by_class.get(major or "", 0) + n
    return {"code": code, "total": sum(by_status.values()), "by_status": by_status, "by_class": by_class}


# The due figures of dispatch.evaluation (_DUE_SQL) from the due tally, as at the period's end %(end)s (a day):
# "before the end" of a time is "before the end's day" of its day, the periods being whole days.
_DUE_TALLY_SQL = """
SELECT coalesce(sum(t.n) FILTER (WHERE t.deadline_day IS NOT NULL), 0),
       coalesce(sum(t.n) FILTER (WHERE t.deadline_day IS NOT NULL AND t.closed_day < %(end)s), 0),
       coalesce(sum(t.n) FILTER (WHERE t.deadline_day IS NOT NULL AND t.closed_day < %(end)s
                                 AND t.processed_by_deadline), 0),
       coalesce(sum(t.n) FILTER (WHERE t.processed_day < %(end)s AND t.processed_by_deadline), 0),
       coalesce(sum(t.n) FILTER (WHERE t.processed_day < %(end)s AND NOT t.processed_by_deadline
                                 AND t.deadline_day IS NOT NULL), 0),
       coalesce(sum(t.n) FILTER (WHERE t.deadline_day < %(end)s
                                 AND (t.processed_day IS NULL OR t.processed_day >= %(end)s)), 0),
       coalesce(sum(t.n) FILTER (WHERE t.deadline_day IS NULL AND t.closed_day IS NOT NULL), 0)
FROM dispatch_duetally t
WHERE t.day >= %(start)s AND t.day < %(end)s {extra}
"""


def due_counts(start: date, end: date, district_ids: list[int] | None = None, major: str = "") -> dict[str, int]:
    """The due counts of dispatch.evaluation (DUE_COUNTS) for the days [start, end), as at `end`, in these
    districts (None: the city) and major class, from the due tally (DueTally) — a few thousand rows for a month,
    where the evaluation's due pass reads each due case."""
    from . import evaluation

    extra = ""
    if district_ids is not None:
        extra += " AND t.district_id = ANY(%(district)s)"
    if major:
        extra += " AND t.major_id = (SELECT id FROM incidents_category WHERE code = %(major)s)"
    with reading().cursor() as cur:
        cur.execute(_DUE_TALLY_SQL.format(extra=extra),
                    {"start": start, "end": end, "district": district_ids, "major": major})
        row = cur.fetchone()
    return dict(zip(evaluation.DUE_COUNTS, (int(v) for v in row), strict=True))


def due_figures(user: AbstractBaseUser, f: Filter) -> dict:
    """The period's due cases as the evaluation counts them (应结案, 结案, 按期结案 — dispatch.evaluation), in the
    user's scope and class, from the due tally."""
    from . import evaluation

    district = user_district_id(user)
    counts = due_counts(f.start, f.end, user_district_ids(user) if district else None, f.major)
    rates = evaluation.rates_of(counts)
    return {"due": counts["due"], "closed_due": counts["closed"], "closed_on_time": counts["closed_on_time"],
            "overdue_unprocessed": counts["overdue_unprocessed"], "no_deadline": counts["no_deadline"],
            "closure_rate": rates["closure_rate"], "on_time_closure_rate": rates["on_time_closure_rate"],
            "on_time_processing_rate": rates["on_time_processing_rate"]}


def kpis(user: AbstractBaseUser, f: Filter) -> dict:
    """The period's intake and closures per day from the tallies (flows); the due figures and rates as the
    evaluation and the bulletins define them; open cases past their deadline and not yet processed, now, by
    bureau."""
    scope = Filter(f.start, f.end, f.major)  # the whole scope: the map's box does not apply to the figures
    where, params = tally_where(user, scope)
    open_where, open_params = scope.where(user, period=None)
    with reading().cursor() as cur:
        cur.execute(f"""
            SELECT t.day, sum(t.reported), sum(t.closed), sum(t.processed), sum(t.on_time)
            FROM dispatch_dailytally t LEFT JOIN grids_area a ON a.id = t.community_id
            WHERE {where} GROUP BY 1 ORDER BY 1""", params)
        intake, closed, on_time, judged = {}, {}, 0, 0
        for day, n_reported, n_closed, n_processed, n_on_time in cur.fetchall():
            intake[day.isoformat()], closed[day.isoformat()] = int(n_reported), int(n_closed)
            on_time, judged = on_time + n_on_time, judged + n_processed
        cur.execute(f"""
            SELECT b.code, b.name, count(*) FROM incidents_case c JOIN grids_bureau b ON b.id = c.bureau_id
            WHERE {open_where} AND c.deadline < now() AND {OPEN_CASES}
                  AND c.status IN ('dispatched', 'in_progress', 'postponed')
            GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 20""", open_params)
        overdue = [{"bureau": code, "name": name, "overdue": n} for code, name, n in cur.fetchall()]
    days = [(f.start + timedelta(days=i)).isoformat() for i in range((f.end - f.start).days)]
    return {"days": days, "intake": [intake.get(d, 0) for d in days], "closed": [closed.get(d, 0) for d in days],
            "reported": sum(intake.values()), "closed_total": sum(closed.values()),
            # Flow: processing reports in the period by their deadline, of those that had one.
            "processing_reports_on_time_rate": round(on_time / judged, 4) if judged else None,
            **due_figures(user, scope), "overdue_by_bureau": overdue,
            "overdue_total": sum(o["overdue"] for o in overdue)}


def compact_tallies() -> int:
    """Fold the tally increments into one row per key — the daily tallies' day, district, community and class;
    the due tally's key, dropping keys whose increments cancel out (a case that moved on) — (the scheduler runs
    this every few minutes). Increments written meanwhile are not in this statement's snapshot and stay for the
    next fold; readers sum, so they see the same totals before and after. Returns the rows removed. (It
    writes: on the primary, whatever replica the request reads.)"""
    with connection.cursor() as cur:
        cur.execute("""
            WITH folded AS (DELETE FROM dispatch_dailytally RETURNING *),
            merged AS (
                INSERT INTO dispatch_dailytally (day, district_id, community_id, major_id, reported, closed,
                                                 processed, on_time)
                SELECT day, district_id, community_id, major_id, sum(reported), sum(closed), sum(processed),
                       sum(on_time)
                FROM folded GROUP BY 1, 2, 3, 4 RETURNING 1),
            due_folded AS (DELETE FROM dispatch_duetally RETURNING *),
            due_merged AS (
                INSERT INTO dispatch_duetally (day, district_id, major_id, deadline_day, closed_day, processed_day,
                                               processed_by_deadline, n)
                SELECT day, district_id, major_id, deadline_day, closed_day, processed_day, processed_by_deadline,
                       sum(n)
                FROM due_folded GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(n) <> 0 RETURNING 1)
            SELECT (SELECT count(*) FROM folded) - (SELECT count(*) FROM merged)
                   + (SELECT count(*) FROM due_folded) - (SELECT count(*) FROM due_merged)""")
        return cur.fetchone()[0]
