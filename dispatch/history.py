"""Case history generated in SQL, for the demo city's dashboards and for the benchmarks: reports spread over
a period and over every cell of the grid, with a city's contrasts — busy cells along the streets (the
community boundaries, which in a Chinese city mostly follow roads), busy and quiet communities (dense
neighbourhoods, villages) — most of them taken round the loop (registered, dispatched, processed — one in
six late —, verified, closed), with the case log entries the evaluation and the dashboards read.

Everything is a deterministic function of the case's sequence number i (and of the grid and the bureaus
present, and of the time it is generated at for the cases of its last 33 hours, whose loop is not over yet), so
generating up to n cases twice gives the same history, and topping up from n to m gives the same cases as
generating m at once. Arithmetic on i is bigint: a million cases times a multiplier
does not fit the 32-bit integers PostgreSQL would otherwise use."""

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from incidents.partitions import ensure_partitions

# Fractional parts of multiples of these irrationals are evenly spread over [0, 1) (Weyl sequences), and
# mutually independent because the numbers are linearly independent over the rationals: case i picks its
# cell by one, its subclass by another, its bureau among those of the subclass's kind serving the cell's
# district by a third.
CELL_STEP = 0.6180339887498949  # golden ratio − 1: consecutive picks land as far apart as possible
CATEGORY_STEP = 0.41421356237309515  # √2 − 1
BUREAU_STEP = 0.7320508075688772  # √3 − 1
COMMUNITY_STEP = 0.7548776662466927  # 1 / plastic number: a community's character from its id
TIME_STEP = 7727  # seconds; prime, so the first `span` cases get distinct report times
MAX_CASES = 10**9 - 1  # case numbers carry 9 digits


def _frac(value: str, step: float) -> str:
    """SQL for the fractional part of value × step, in float8 (width_bucket searches a float8 array)."""
    return f"({value} * {step}::float8 - floor({value} * {step}::float8))"


# A cell's weight: (community × street) ** skew, where
#   community = 0.6 + 2.4 h²  (h in [0, 1) from the community's id: most communities quiet, a few busy)
#   street    = 1 + 3 exp(−d / 150 m)  (d: from the cell's centre to its community's boundary)
# so the busiest cells see about twenty times the quietest, which at skew 1 still expect a fifth of the mean:
# a million cases over the benchmark's 104,431 cells give 2 cases to the 1st percentile, 37 to the 99th,
# and at least one to every cell.
_CELL_WEIGHTS = f"""
    SELECT c.id,
           power((0.6 + 2.4 * power({_frac("a.id", COMMUNITY_STEP)}, 2))
                 * (1 + 3 * exp(-ST_Distance(ST_PointOnSurface(c.geom)::geography,
                                             ST_Boundary(a.geom)::geography) / 150.0)),
                 %(skew)s::float8) AS w
    FROM grids_cell c JOIN grids_area a ON a.id = c.community_id WHERE c.is_current"""


def plan_cases(cursor, first: int, last: int, start: datetime, span_seconds: int, skew: float = 1.0) -> None:
    """Fill the temporary table gen_case (i, cell_id, category_id, bureau_id, at) with the attributes of
    generated cases `first`..`last`. Needs at least one cell, one subclass and one bureau."""
    if not 1 <= first <= last <= MAX_CASES:
        raise ValueError(f"case sequence numbers must lie within 1..{MAX_CASES}, not {first}..{last}")
    cursor.execute("DROP TABLE IF EXISTS gen_cell, gen_category, gen_bureau, gen_case")
    # Cells in id order with the lower bound of their share of the total weight: width_bucket() finds, by
    # binary search, the cell whose share holds a number in [0, 1).
    cursor.execute(f"""
        CREATE TEMP TABLE gen_cell AS
        SELECT row_number() OVER (ORDER BY id) AS k, id,
               (sum(w) OVER (ORDER BY id) - w) / sum(w) OVER () AS lo
        FROM ({_CELL_WEIGHTS}) weights""", {"skew": skew})
    cursor.execute("""
        CREATE TEMP TABLE gen_category AS
        SELECT row_number() OVER (ORDER BY id) AS k, id, default_bureau_kind AS kind
        FROM incidents_category WHERE parent_id IS NOT NULL""")
    # The bureaus of each kind that serve each district — the city's and the district's own, as a dispatcher
    # may choose (incidents.lifecycle.bureau_serves); a subclass whose kind has none there goes to any bureau
    # serving the district (kind NULL).
    cursor.execute("""
        CREATE TEMP TABLE gen_bureau AS
        WITH serving AS (
            SELECT d.id AS district_id, b.kind, b.id FROM grids_area d
            JOIN grids_bureau b ON b.district_id IS NULL OR b.district_id = d.id
            WHERE d.level = 2)
        SELECT district_id, kind, array_agg(id ORDER BY id) AS ids FROM serving GROUP BY district_id, kind
        UNION ALL SELECT district_id, NULL, array_agg(id ORDER BY id) FROM serving GROUP BY district_id""")
    cursor.execute("SELECT (SELECT count(*) FROM gen_cell), (SELECT count(*) FROM gen_category), "
                   "(SELECT count(*) FROM grids_bureau)")
    cells, categories, bureaus = cursor.fetchone()
    if not (cells and categories and bureaus):
        raise ValueError(f"generating history needs cells, subclasses and bureaus; there are {cells} cells, "
                         f"{categories} subclasses and {bureaus} bureaus (a case nobody is responsible for "
                         "would count for no bureau in the evaluation)")
    # The cell arrays are scalar subqueries, computed once (an InitPlan); read from a table row instead,
    # the whole array would be detoasted for every generated case.
    cursor.execute(f"""
        CREATE TEMP TABLE gen_case AS
        SELECT e.i, e.cell_id, cat.id AS category_id,
               (coalesce(b.ids, anyb.ids))[1 + floor({_frac("e.i", BUREAU_STEP)}
                                                     * cardinality(coalesce(b.ids, anyb.ids)))::int] AS bureau_id,
               %(start)s::timestamptz + (e.i * {TIME_STEP} %% %(span)s) * interval '1 second' AS at
        FROM (SELECT i, (SELECT array_agg(id ORDER BY k) FROM gen_cell)[width_bucket(
                  {_frac("i", CELL_STEP)}, (SELECT array_agg(lo ORDER BY k) FROM gen_cell))] AS cell_id
              FROM generate_series(%(first)s::bigint, %(last)s::bigint) i) e
        JOIN grids_cell c ON c.id = e.cell_id
        JOIN gen_category cat
          ON cat.k = 1 + floor({_frac("e.i", CATEGORY_STEP)} * %(categories)s)::bigint
        LEFT JOIN gen_bureau b ON b.kind = cat.kind AND b.district_id = c.district_id
        LEFT JOIN gen_bureau anyb ON anyb.kind IS NULL AND anyb.district_id = c.district_id""",
                   {"first": first, "last": last, "start": start, "span": span_seconds, "categories": categories})


def generate_history(n: int, start: datetime, span_seconds: int, prefix: str, skew: float = 1.0,
                     settled: bool = False) -> int:
    """Make sure `n` generated cases numbered `prefix` + 9 digits exist, reported between `start` and
    `start + span_seconds`, spread over every cell with contrast `skew` (0: evenly; 1: a city's contrasts;
    2: the same, sharper). Seven in ten go round the loop to their closure, two are in progress, one is
    reported; `settled`: every one is closed, as the months of an archive are. Returns how many were added.
    A case's loop takes 25 hours, 33 when its processing report comes late (one in six); nothing lies in the
    future: a case whose loop would end after now is left open — its report, registration and dispatch as their
    time comes, no processing, verification or closure — and the period must end by now (ValueError). The grid,
    the catalogue and at least one bureau must exist."""
    if start + timedelta(seconds=span_seconds) > timezone.now():
        raise ValueError(f"a generated history ends by now, not {start + timedelta(seconds=span_seconds)}")
    # The months the history spans have their partitions before it lands (else it would fill the DEFAULT
    # partition), made in a transaction of their own: the function holds its lock to the end of the caller's
    # transaction, and another month's history could not be generated beside this one meanwhile.
    ensure_partitions(timezone.localdate(start))  # months are cut in the city's time zone
    with transaction.atomic(), connection.cursor() as cur:  # all of it or nothing
        cur.execute("SELECT count(*) FROM incidents_case WHERE number LIKE %s", [prefix + "%"])
        have = cur.fetchone()[0]
        if have >= n:
            return 0
        plan_cases(cur, have + 1, n, start, span_seconds, skew)
        # Each case takes its id here, so that its log entries need no look-up of the case.
        # One processing report in six comes 8 hours late, after the 26-hour deadline, and the steps after it
        # with it; a case closes only if its loop is over by now.
        cur.execute("ALTER TABLE gen_case ADD COLUMN id bigint, ADD COLUMN late integer, ADD COLUMN closes boolean")
        cur.execute("""
            UPDATE gen_case SET id = nextval(pg_get_serial_sequence('incidents_case', 'id')),
                late = CASE WHEN i %% 6 = 0 THEN 8 * 3600 ELSE 0 END,
                closes = (%(settled)s OR i %% 10 < 7)
                         AND at + (25 * 3600 + CASE WHEN i %% 6 = 0 THEN 8 * 3600 ELSE 0 END) * interval '1 second'
                             <= now()""", {"settled": settled})
        cur.execute("""
            INSERT INTO incidents_case (id, number, client_uuid, location, address, cell_id, community_id, street_id,
                district_id, category_id, description, urgency, source, contact_name, contact_phone, contact_email,
                status, bureau_id, deadline, rework_count, version, created_at, updated_at, status_since, processed_at,
                closed_at)
            SELECT e.id, %(prefix)s || lpad(e.i::text, 9, '0'), gen_random_uuid(), ST_PointOnSurface(c.geom), '', c.id,
                   c.community_id, c.street_id, c.district_id, e.category_id, '', 'normal', 'inspector', '', '', '',
                   CASE WHEN e.closes THEN 'closed'
                        WHEN NOT (%(settled)s OR e.i %% 10 < 9) THEN 'reported'
                        WHEN e.at + interval '1 hour' <= now() THEN 'in_progress'
                        WHEN e.at + interval '30 minutes' <= now() THEN 'registered' ELSE 'reported' END,
                   -- no bureau before its dispatch, an hour after the report (the steps below)
                   CASE WHEN (%(settled)s OR e.i %% 10 < 9) AND e.at + interval '1 hour' <= now() THEN e.bureau_id END,
                   e.at + interval '26 hours', 0, 1, e.at, now(), e.at,
                   -- what the log's trigger would set (its processing report, its closure; steps below), set here so
                   -- that the trigger finds nothing to change: updating a million cases again took most of the time
                   CASE WHEN e.closes THEN e.at + (20 * 3600 + e.late) * interval '1 second' END,
                   CASE WHEN e.closes THEN e.at + (25 * 3600 + e.late) * interval '1 second' END
            FROM gen_case e
            JOIN grids_cell c ON c.id = e.cell_id""",
                    {"prefix": prefix, "settled": settled})
        # (action, from, to, seconds after the report, seconds in the previous status, which cases)
        steps = [("report", "", "reported", 0, None, "true"),
                 ("register", "reported", "registered", 1800, 1800, "e.i %% 10 < 9"),
                 ("dispatch", "registered", "dispatched", 3600, 1800, "e.i %% 10 < 9"),
                 ("return", "dispatched", "returned", 5400, 1800, "e.i %% 37 = 0"),
                 ("process", "in_progress", "processed", 20 * 3600, 19 * 3600, "e.i %% 10 < 7"),
                 ("verify_fail", "processed", "in_progress", 22 * 3600, 2 * 3600, "e.i %% 23 = 0"),
                 ("verify_pass", "processed", "verified", 24 * 3600, 4 * 3600, "e.i %% 10 < 7"),
                 ("close", "verified", "closed", 25 * 3600, 3600, "e.i %% 10 < 7")]
        for action, frm, to, offset, seconds, condition in steps:
            if action in ("process", "verify_pass", "close"):
                condition = "e.closes"
            elif action == "verify_fail":  # a failed verification needs a processing report before it
                condition = f"e.closes AND {condition}"
            elif settled and condition.startswith("e.i %% 10"):
                condition = "true"
            # The late processing report, and every step after it, 8 hours later (gen_case.late).
            late = "e.late" if offset >= 20 * 3600 else "0"
            met = "e.i %% 6 <> 0" if action == "process" else "NULL"
            condition = f"({condition}) AND e.at + ({offset} + {late}) * interval '1 second' <= now()"
            cur.execute(f"""
                INSERT INTO incidents_caselog (case_id, action, from_status, to_status, note, created_at, bureau_id,
                                               district_id, street_id, cell_id, seconds_in_from_status, deadline_met)
                SELECT e.id, '{action}', '{frm}', '{to}', '', e.at + ({offset} + {late}) * interval '1 second',
                       CASE WHEN '{action}' IN ('report', 'register') THEN NULL ELSE e.bureau_id END,
                       g.district_id, g.street_id, g.id,
                       {seconds if seconds is not None else 'NULL'} + {late if action == "process" else "0"}, {met}
                FROM gen_case e JOIN grids_cell g ON g.id = e.cell_id WHERE {condition}""", {"prefix": prefix})
        cur.execute("DROP TABLE gen_cell, gen_category, gen_bureau, gen_case")
    from citygrid.dbroles import analyze

    analyze("incidents_case", "incidents_caselog")
    return n - have
