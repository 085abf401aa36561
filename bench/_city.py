"""The benchmarks' city, built on demand in their scratch database, so that each benchmark finds what it
needs whichever ran first: one district of irregular communities cut into 100 m cells by the product's own
generate_cells, a bureau of every kind the catalogue routes to with routing rules, and generated history
(which needs the bureaus: a case generated before any bureau exists would count for none).

Full size: 121 communities, 104,431 cells. Smoke size: 4 communities, about 3,400 cells."""

import random
import time
from datetime import datetime
from zoneinfo import ZoneInfo

ORIGIN = (112.80, 27.75)  # south-west corner, the same as the reference tool's
STEP_M = 2900.0
JITTER_M = 100.0
FULL_MESH = 11  # communities per side
SMOKE_MESH = 2
DISTRICT_CODE = "430302"
HISTORY_START = datetime(2026, 10, 1, tzinfo=ZoneInfo("Asia/Shanghai"))  # October 2026
HISTORY_SPAN_S = 30 * 86400  # reports up to 31 October 00:00: their steps fall in October but the late closures'
HISTORY_PREFIX = "EV"


def build_grid(smoke: bool = False) -> None:
    """One district of mesh × mesh communities, each an irregular quadrilateral of about 2.9 km across."""
    from django.contrib.gis.geos import MultiPolygon, Point, Polygon
    from django.db import transaction

    from grids.generation import analyze_grid_tables, generate_cells
    from grids.models import Area, Cell, Level
    from grids.projection import STORAGE_SRID, transformed

    if Cell.objects.exists():  # built whole or not at all (one transaction)
        return
    mesh = SMOKE_MESH if smoke else FULL_MESH
    t0 = time.perf_counter()
    srid = 4547
    ox, oy = transformed(Point(*ORIGIN, srid=4326), srid).coords
    rnd = random.Random(11)
    corners = {(i, j): (ox + 250 + i * STEP_M + (rnd.uniform(-JITTER_M, JITTER_M) if 0 < i < mesh else 0),
                        oy + 250 + j * STEP_M + (rnd.uniform(-JITTER_M, JITTER_M) if 0 < j < mesh else 0))
               for i in range(mesh + 1) for j in range(mesh + 1)}

    def quad(i0, j0, i1, j1):
        ring = [corners[(i0, j0)], corners[(i1, j0)], corners[(i1, j1)], corners[(i0, j1)], corners[(i0, j0)]]
        return MultiPolygon(transformed(Polygon(ring, srid=srid), STORAGE_SRID), srid=STORAGE_SRID)

    with transaction.atomic():
        Area.objects.all().delete()
        city = Area(level=Level.CITY, code="430300", name="基准市", geom=quad(0, 0, mesh, mesh))
        city.save()
        district = Area(level=Level.DISTRICT, code=DISTRICT_CODE, name="基准区", parent=city,
                        geom=quad(0, 0, mesh, mesh))
        district.save()
        for i in range(mesh):
            street = Area(level=Level.STREET, code=f"{DISTRICT_CODE}{i + 1:03d}", name=f"街道{i + 1}",
                          parent=district, geom=quad(i, 0, i + 1, mesh))
            street.save()
            for j in range(mesh):
                community = Area(level=Level.COMMUNITY, code=f"{street.code}{j + 1:03d}", name=f"社区{i + 1}-{j + 1}",
                                 parent=street, geom=quad(i, j, i + 1, j + 1))
                community.save()
                generate_cells(community, size=100)
    analyze_grid_tables()
    print(f"built {Cell.objects.count():,} cells in {time.perf_counter() - t0:.0f} s", flush=True)


def district_extent() -> tuple[float, float, float, float]:
    from grids.models import Area

    return Area.objects.get(code=DISTRICT_CODE).geom.extent


def ensure_bureaus_and_rules() -> dict:
    """A bureau of every kind the catalogue's subclasses default to, and a routing rule for every subclass
    (with street-level exceptions, as cities have)."""
    from dispatch.models import RoutingRule
    from grids.models import Area, Bureau, Level
    from incidents.models import Category

    kinds = sorted({c.default_bureau_kind for c in Category.objects.filter(parent__isnull=False)})
    bureaus = {k: Bureau.objects.get_or_create(code=f"BENCH-{k}", defaults={"name": f"基准{k}", "kind": k})[0]
               for k in kinds}
    if not RoutingRule.objects.exists():
        streets = list(Area.objects.filter(level=Level.STREET))
        for category in Category.objects.filter(parent__isnull=False):
            RoutingRule.objects.create(category=category, bureau=bureaus[category.default_bureau_kind])
            for street in streets[:3]:
                RoutingRule.objects.create(category=category, area=street, bureau=bureaus["city_management"])
    return bureaus


def ensure_history(n: int) -> None:
    """October 2026 with `n` generated reports over the grid, most going round the loop; the bureaus first."""
    from django.db import connection

    from dispatch.history import generate_history

    ensure_bureaus_and_rules()
    t0 = time.perf_counter()
    added = generate_history(n, HISTORY_START, HISTORY_SPAN_S, HISTORY_PREFIX)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT cell_id), count(bureau_id) FROM incidents_case "
                    "WHERE number LIKE %s", [HISTORY_PREFIX + "%"])
        cases, cells_used, with_bureau = cur.fetchone()
        cur.execute("SELECT count(*) FROM grids_cell")
        cells = cur.fetchone()[0]
    done = f"generated {added:,} cases with their logs in {time.perf_counter() - t0:.0f} s" if added else "history"
    print(f"{done}: {cases:,} cases over {cells_used:,} of {cells:,} cells, {with_bureau:,} with a bureau",
          flush=True)
    settle()


def settle(always: bool = False) -> None:
    """Bring the tables to the state a live system reaches minutes after a burst of writes, so figures do not
    depend on whether autovacuum has come by yet: tally increments folded (the scheduler does it every five
    minutes), dead rows vacuumed and the visibility map set (autovacuum). Without `always`, nothing is done
    when there is nothing to fold (the history was there already)."""
    from django.db import connection

    from dispatch.dashboard import compact_tallies

    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) - count(DISTINCT (day, district_id, community_id, major_id)) "
                    "FROM dispatch_dailytally")
        if not cur.fetchone()[0] and not always:
            return
        folded = compact_tallies()
    # Only a table's owner may VACUUM it; the benchmark serves as the runtime role, so it settles as the owner.
    from citygrid.dbroles import as_owner

    with as_owner(), connection.cursor() as cur:
        for table in ("incidents_case", "incidents_casekey", "incidents_caselog", "dispatch_dailytally"):
            cur.execute(f"VACUUM (ANALYZE) {table}")
    print(f"settled: {folded:,} tally increments folded, tables vacuumed, in {time.perf_counter() - t0:.0f} s",
          flush=True)
