"""The duplicate search (incidents.duplicates, the database function of incidents migration 0023): what it finds —
open cases of the same subclass within DUPLICATE_RADIUS_M metres and DUPLICATE_WINDOW_HOURS hours, across a
month's boundary, oldest first — and the plan it keeps: each month's partition read through its spatial index
alone, the months outside the window pruned."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from citygrid.dbroles import analyze
from dispatch.history import generate_history
from incidents import intake
from incidents.duplicates import duplicates_near, likely_duplicate_numbers_sql
from incidents.models import Case, Source
from incidents.partitions import ensure_partitions
from tests.conftest import point_in

METRE = 1 / 111_320  # degrees of latitude


def _report(lon: float, lat: float, category: str = "SJ0102") -> Case:
    return intake.submit(intake.Report(lon=lon, lat=lat, category=category, source=Source.HOTLINE_12345,
                                       description="重复上报")).case


def _at(case: Case, when) -> None:
    Case.objects.filter(pk=case.pk).update(created_at=when)  # moves it into that month's partition


def test_open_cases_of_the_subclass_nearby_in_the_window_oldest_first_across_a_months_boundary(people):
    lon, lat = point_in(people["a"])
    month = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    at = month + timedelta(hours=1)  # a report just after midnight on the 1st: the window reaches last month
    window = timedelta(hours=settings.DUPLICATE_WINDOW_HOURS)
    ensure_partitions((month - window).date())  # last month's partition too
    near = _report(lon, lat + 20 * METRE)  # made first: the order by time contradicts the order by id
    last_month = _report(lon, lat)
    far = _report(lon, lat + 200 * METRE)
    other_subclass = _report(lon, lat, "SJ0601")
    closed = _report(lon, lat)
    too_old = _report(lon, lat)
    too_late = _report(lon, lat)
    for case, when in ((last_month, at - timedelta(hours=20)), (near, at - timedelta(minutes=10)),
                       (far, at - timedelta(minutes=5)), (other_subclass, at - timedelta(minutes=5)),
                       (closed, at - timedelta(minutes=5)), (too_old, at - window - timedelta(minutes=1)),
                       (too_late, at + window + timedelta(minutes=1))):
        _at(case, when)
    Case.objects.filter(pk=closed.pk).update(status="closed")
    with connection.cursor() as cur:
        cur.execute("SELECT tableoid::regclass::text FROM incidents_case WHERE id = %s", [last_month.pk])
        assert cur.fetchone()[0] == f"incidents_case_p{at - timedelta(hours=20):%Y%m}"  # another month's partition
    category = last_month.category_id
    assert duplicates_near(lon, lat, category, at) == [last_month.pk, near.pk]
    assert duplicates_near(lon, lat, category, at, limit=1) == [last_month.pk]
    assert duplicates_near(lon, lat, category, at, exclude_id=last_month.pk) == [near.pk]
    assert duplicates_near(lon, lat + 200 * METRE, category, at) == [far.pk]
    assert duplicates_near(lon, lat, other_subclass.category_id, at) == [other_subclass.pk]
    # as intake asks it, in the statement that wrote the report: the case itself left out, numbers oldest first
    new = _report(lon, lat)
    _at(new, at)
    new = Case.objects.get(pk=new.pk)
    sql, params = likely_duplicate_numbers_sql(new, exclude="%s")
    with connection.cursor() as cur:
        cur.execute(f"SELECT {sql}", [params[0], new.pk, *params[1:]])
        assert cur.fetchone()[0] == [last_month.number, near.number]
    apart = lat + 100 * METRE  # more than 50 m from every case above
    report = intake.submit(intake.Report(lon=lon, lat=apart, category="SJ0102", source=Source.HOTLINE_12345))
    assert report.created and report.duplicates == []
    again = intake.submit(intake.Report(lon=lon, lat=apart + 10 * METRE, category="SJ0102",
                                        source=Source.HOTLINE_12345))
    assert again.duplicates == [report.case.number]


def _function_as_prepared(cur) -> tuple[str, list[str]]:
    """The function's query as a statement to PREPARE under the function's own settings: its text read from the
    database (not copied here), its arguments made parameters."""
    cur.execute("""SELECT prosrc, proconfig, proargnames, pg_get_function_identity_arguments(oid) FROM pg_proc
                   WHERE proname = 'incidents_open_cases_near'""")
    source, config, names, arguments = cur.fetchone()
    query = re.search(r"RETURN QUERY\s+(.*?);\s*END", source, re.S).group(1)
    types = [arg.split(" ", 1)[1] for arg in arguments.split(", ")]
    for i, name in enumerate(names[:len(types)], start=1):
        query = re.sub(rf"\b{name}\b", f"${i}", query)
    return f"PREPARE near({', '.join(types)}) AS {query}", config


@pytest.mark.django_db(transaction=True)
def test_the_kept_plan_reads_each_month_through_its_spatial_index_and_prunes_the_others(people):
    when = timezone.now() - timedelta(days=2)  # the middle of the history: its month holds cases whatever the date
    generate_history(600, when - timedelta(days=1), 2 * 86400, "DP")
    analyze("incidents_case")
    lon, lat = point_in(people["a"])
    category = Case.objects.filter(number__startswith="DP").values_list("category_id", flat=True).first()
    window = timedelta(hours=settings.DUPLICATE_WINDOW_HOURS)
    with connection.cursor() as cur:
        prepare, config = _function_as_prepared(cur)
        assert sorted(config) == ["enable_bitmapscan=off", "max_parallel_workers_per_gather=0",
                                  "plan_cache_mode=force_generic_plan", "search_path=pg_catalog, public"]
        cur.execute("BEGIN")
        try:
            # parallel plans made as cheap as a large database's costs make them look (10 M cases: 0024)
            for name in ("parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size",
                         "min_parallel_index_scan_size"):
                cur.execute("SELECT set_config(%s, '0', true)", [name])
            for setting in config:
                cur.execute("SELECT set_config(%s, %s, true)", setting.split("=", 1))
            cur.execute(prepare)
            cur.execute("EXPLAIN EXECUTE near(%s, 0, %s, %s, %s, %s, %s, %s, %s, 10)",
                        [category, when - window, when + window, ["closed", "cancelled"], lon, lat, 0.0007, 50.0])
            plan = "\n".join(row for (row,) in cur.fetchall())
        finally:
            cur.execute("ROLLBACK")
            cur.execute("DEALLOCATE near")  # a prepared statement outlives a rollback
    print(plan)
    assert "Subplans Removed" in plan  # the months outside the window, pruned when it runs
    month = f"incidents_case_p{timezone.localtime(when):%Y%m}"
    assert re.search(rf"Index Scan using {month}_location_idx on {month}", plan)
    assert not re.search(r"Bitmap|created_at_idx|category_id|Gather|Parallel", plan.replace("(category_id + 0)", ""))
