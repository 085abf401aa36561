"""Generated case history (dispatch.history): every cell of a large grid gets cases, with a city's contrasts;
case numbers far beyond 32-bit products generate; bureaus are those of the subclass's kind, and required."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from dispatch.history import generate_history, plan_cases
from grids.models import Bureau
from incidents.models import Case, Category


def _tile_with_small_cells(community, columns: int, rows: int) -> int:
    """Cover a rectangular community with columns × rows cells, written in SQL: generating more than 10,000
    cells through generate_cells would take a minute and needs many communities (3-digit cell codes)."""
    x0, y0, x1, y1 = community.geom.extent
    dx, dy = (x1 - x0) / columns, (y1 - y0) / rows
    with connection.cursor() as cur:
        cur.execute("""
            INSERT INTO grids_cell (code, geom, updated_at, community_id, street_id, district_id)
            SELECT 'T' || lpad((i * %(rows)s + j)::text, 6, '0'),
                   ST_Multi(ST_MakeEnvelope(%(x0)s + i * %(dx)s, %(y0)s + j * %(dy)s,
                                            %(x0)s + (i + 1) * %(dx)s, %(y0)s + (j + 1) * %(dy)s, 4326)),
                   now(), %(community)s, %(street)s, %(district)s
            FROM generate_series(0, %(columns)s - 1) i, generate_series(0, %(rows)s - 1) j""",
                    {"rows": rows, "columns": columns, "x0": x0, "y0": y0, "dx": dx, "dy": dy,
                     "community": community.pk, "street": community.parent_id,
                     "district": community.parent.parent_id})
        return cur.rowcount


def test_every_cell_of_a_large_grid_gets_cases_busier_along_the_streets(city, catalogue):
    # More cells than the 10,007 slots the old generator picked from (i * 7919 % 10007).
    cells = _tile_with_small_cells(city["a"], 101, 100)
    assert cells == 10_100
    Bureau.objects.create(code="CG", name="城管局", kind=Bureau.Kind.CITY_MANAGEMENT)
    with connection.cursor() as cur:
        plan_cases(cur, 1, 6 * cells, timezone.now() - timedelta(days=30), 30 * 86400)
        cur.execute("SELECT count(DISTINCT cell_id) FROM gen_case")
        assert cur.fetchone()[0] == cells
        # Cells along the community's boundary (its streets) against those in its middle.
        cur.execute("""
            SELECT (avg(k) FILTER (WHERE d < 50))::float, (avg(k) FILTER (WHERE d > 200))::float
            FROM (SELECT count(e.i) AS k, ST_Distance(ST_PointOnSurface(c.geom)::geography,
                                                      ST_Boundary(a.geom)::geography) AS d
                  FROM grids_cell c JOIN grids_area a ON a.id = c.community_id
                  LEFT JOIN gen_case e ON e.cell_id = c.id GROUP BY c.id, a.geom) per_cell""")
        along, middle = cur.fetchone()
    assert along > 1.8 * middle, (along, middle)


def test_case_numbers_beyond_278k_generate(gridded, catalogue):
    # i × 7727 passed 2^31 at i = 277,923: the report times were computed in 32-bit integers.
    Bureau.objects.create(code="CG", name="城管局", kind=Bureau.Kind.CITY_MANAGEMENT)
    start = timezone.now() - timedelta(days=30)
    with connection.cursor() as cur:
        plan_cases(cur, 300_000, 300_099, start, 30 * 86400)
        cur.execute("SELECT count(*), min(at), max(at) FROM gen_case")
        count, first, last = cur.fetchone()
    assert count == 100 and start <= first <= last < start + timedelta(days=30)


def test_cases_go_to_a_bureau_of_their_subclass_kind(people):
    """... one that serves the case's district (the city's or the district's own: another district's
    city-management bureau never), and a case not yet dispatched has none."""
    from grids.models import Bureau

    Bureau.objects.create(code="430304-CG", name="岳塘区城管局", kind=Bureau.Kind.CITY_MANAGEMENT,
                          district=people["east"])  # the generated cases all lie in the west district
    generate_history(300, timezone.now() - timedelta(days=10), 5 * 86400, "TB")
    every = Case.objects.filter(number__startswith="TB").select_related("category", "bureau")
    assert all(c.bureau_id is None for c in every if c.status == "reported") and any(
        c.status == "reported" for c in every)
    cases = [c for c in every if c.status != "reported"]
    by_kind = {"city_management": people["cg"], "water": people["water"]}
    assert {c.bureau for c in cases if c.category.default_bureau_kind in by_kind} == set(by_kind.values())
    assert all(c.bureau.district_id in (None, c.district_id) for c in cases)
    assert all(c.bureau == by_kind[c.category.default_bureau_kind] for c in cases
               if c.category.default_bureau_kind in by_kind)
    subclasses = Category.objects.filter(parent__isnull=False).count()
    assert subclasses >= 70 and len({c.category_id for c in cases}) == subclasses  # every one, not one in seven


def test_history_is_refused_without_a_bureau(gridded, catalogue):
    with pytest.raises(ValueError, match="bureaus"):
        generate_history(10, timezone.now() - timedelta(days=10), 5 * 86400, "TN")
    assert not Case.objects.filter(number__startswith="TN").exists()
