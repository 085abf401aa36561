"""Case history generated in SQL, for the demo city's dashboards and for the benchmarks: reports spread over
a period and the grid, most of them taken round the loop (registered, dispatched, processed — one in six
late —, verified, closed), with the case log entries the evaluation and the dashboards read."""

from datetime import datetime

from django.db import connection, transaction


def generate_history(n: int, start: datetime, span_seconds: int, prefix: str, skew: float = 1.0) -> int:
    """Make sure `n` generated cases numbered `prefix` + 9 digits exist, reported between `start` and
    `start + span_seconds`, in cells picked with density skew `skew` (1: even; 2: denser at one end of the
    cell order). Returns how many were added. Every log entry is `start + span + 25 h` at the latest."""
    with transaction.atomic(), connection.cursor() as cur:  # all of it or nothing
        cur.execute("SELECT count(*) FROM incidents_case WHERE number LIKE %s", [prefix + "%"])
        have = cur.fetchone()[0]
        if have >= n:
            return 0
        cur.execute("DROP TABLE IF EXISTS ev")
        cur.execute("CREATE TEMP TABLE ev AS SELECT g AS i FROM generate_series(%s, %s) g", [have + 1, n])
        # The id lists are scalar subqueries, computed once (an InitPlan); read from a table row instead, the
        # whole array would be detoasted for every generated case.
        cur.execute("""
            INSERT INTO incidents_case (number, client_uuid, location, address, cell_id, community_id, street_id,
                district_id, category_id, description, urgency, source, contact_name, contact_phone, contact_email,
                status, bureau_id, deadline, rework_count, version, created_at, updated_at, status_since)
            SELECT %(prefix)s || lpad(e.i::text, 9, '0'), gen_random_uuid(), ST_PointOnSurface(c.geom), '', c.id,
                   c.community_id, c.street_id, c.district_id,
                   (SELECT array_agg(id ORDER BY id) FROM incidents_category WHERE parent_id IS NOT NULL)
                       [(1 + (e.i * 7) %% (SELECT count(*) FROM incidents_category WHERE parent_id IS NOT NULL))::int],
                   '', 'normal', 'inspector', '', '', '',
                   CASE WHEN e.i %% 10 < 7 THEN 'closed' WHEN e.i %% 10 < 9 THEN 'in_progress' ELSE 'reported' END,
                   (SELECT array_agg(id ORDER BY id) FROM grids_bureau)
                       [(1 + e.i %% (SELECT count(*) FROM grids_bureau))::int],
                   %(start)s::timestamptz + (e.i * 7727 %% %(span)s) * interval '1 second' + interval '26 hours',
                   0, 1, %(start)s::timestamptz + (e.i * 7727 %% %(span)s) * interval '1 second', now(),
                   %(start)s::timestamptz + (e.i * 7727 %% %(span)s) * interval '1 second'
            FROM ev e
            JOIN grids_cell c ON c.id = (SELECT array_agg(id ORDER BY id) FROM grids_cell)[(1 + floor(
                (SELECT count(*) FROM grids_cell) * power((e.i * 7919 %% 10007) / 10007.0, %(skew)s)))::int]""",
                    {"prefix": prefix, "start": start, "span": span_seconds, "skew": skew})
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
            # One processing report in six comes 8 hours late, after the 26-hour deadline.
            late = "(CASE WHEN e.i %% 6 = 0 THEN 8 * 3600 ELSE 0 END)" if action == "process" else "0"
            met = "e.i %% 6 <> 0" if action == "process" else "NULL"
            cur.execute(f"""
                INSERT INTO incidents_caselog (case_id, action, from_status, to_status, note, created_at, bureau_id,
                                               seconds_in_from_status, deadline_met)
                SELECT c.id, '{action}', '{frm}', '{to}', '', c.created_at + ({offset} + {late}) * interval '1 second',
                       CASE WHEN '{action}' IN ('report', 'register') THEN NULL ELSE c.bureau_id END,
                       {seconds if seconds is not None else 'NULL'} + {late}, {met}
                FROM ev e JOIN incidents_case c ON c.number = %(prefix)s || lpad(e.i::text, 9, '0')
                WHERE {condition}""", {"prefix": prefix})
        cur.execute("DROP TABLE ev")
    from citygrid.dbroles import analyze

    analyze("incidents_case", "incidents_caselog")
    return n - have
