"""Every benchmark in smoke mode (`bench/X.py --smoke`: a small grid, a few thousand rows, a few seconds), as
a subprocess, on a scratch database of its own dropped before and after (bench/_django.py names it): each
must finish, print its figures, and keep expected refusals (404, 400, 409) out of its server's log.

The dashboard runs first and the dispatch benchmark after it, on the fresh database: the order in which
the evaluation by bureau used to find cases without a bureau. The full-size runs stay manual."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import dj_database_url
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300  # a hung benchmark fails the suite instead of holding it
NUMBER = r"[\d,.]+"
# What Django logs for a refused request; the benchmarks' servers keep these out (LOG_LEVEL=ERROR).
REFUSAL_LOG = re.compile(r"^(Not Found|Bad Request|Forbidden|Conflict|Unauthorized|Unsupported Media Type): ",
                         re.MULTILINE)


def _bench_django():
    spec = importlib.util.spec_from_file_location("bench_django", ROOT / "bench" / "_django.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _drop(url: str) -> None:
    from citygrid import dbroles

    dbroles.drop_database(dj_database_url.parse(url)["NAME"])  # as the administrator: the roles own nothing else


@pytest.fixture(scope="module")
def smoke_env():
    # The name follows the DATABASE_URL this suite runs with: never the demo, test or full benchmark database.
    # The owner and backup roles' URLs name this suite's database: the smoke database's follow its DATABASE_URL.
    environ = {k: v for k, v in os.environ.items()
               if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "LOG_LEVEL", "DATABASE_OWNER_URL", "DATABASE_BACKUP_URL")}
    url = _bench_django().smoke_database_url()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each of `make test`'s workers a scratch database of its own
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url)
        url = urlunsplit(parts._replace(path=parts.path + "_" + os.environ["PYTEST_XDIST_WORKER"]))
    for forbidden in ("citygrid", "citygrid_bench", settings.DATABASES["default"]["NAME"]):
        assert dj_database_url.parse(url)["NAME"] != forbidden, url
    # The benchmarks' servers count rate limits in the tests' Redis database, not in `make run`'s.
    environ["REDIS_URL"] = settings.REDIS_URL
    environ["BENCH_SMOKE_DATABASE_URL"] = url
    _drop(url)
    yield environ
    _drop(url)


def run_bench(name: str, env: dict) -> str:
    try:
        out = subprocess.run([sys.executable, str(ROOT / "bench" / f"{name}.py"), "--smoke"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"bench/{name}.py --smoke did not finish in {TIMEOUT_S} s:\n{exc.stdout}\n{exc.stderr}")
    text = out.stdout + out.stderr
    assert out.returncode == 0, f"bench/{name}.py --smoke exited {out.returncode}:\n{text}"
    assert "(smoke mode)" in text, text
    refusals = REFUSAL_LOG.findall(text)
    assert not refusals, f"expected refusals logged by bench/{name}.py's server: {refusals[:3]}\n{text}"
    assert "Traceback" not in text, text
    return text


def figures(text: str, *patterns: str) -> list[re.Match]:
    found = []
    for pattern in patterns:
        match = re.search(pattern, text, re.MULTILINE)
        assert match, f"no line matching {pattern!r} in:\n{text}"
        found.append(match)
    return found


def as_int(value: str) -> int:
    return int(value.replace(",", ""))


def test_dashboard_then_dispatch_on_a_fresh_database(smoke_env):
    text = run_bench("dashboard", smoke_env)
    generated, *_ = figures(
        text, rf"^generated ({NUMBER}) cases .* over ({NUMBER}) of ({NUMBER}) cells, ({NUMBER}) with a bureau",
        *(rf"^  {name} +zoom {zoom}: p50 +{NUMBER} ms, p95 +{NUMBER} ms; {NUMBER} items"
          for name in ("heatmap", "choropleth") for zoom in (11, 13, 15)),
        rf"^  kpis +zoom 11: p50 +{NUMBER} ms, p95 +{NUMBER} ms; 31 items",
        *(rf"^  page {page} +\d+ files, {NUMBER} KB \({NUMBER} KB gzip\)"
          for page in ("/inspector/", "/console/", "/dashboard/", "/map/")),
        rf"^peak memory \(benchmark process\): {NUMBER} MB")
    # 3,000 cases; each has a bureau once dispatched (9 in 10: the tenth is still only reported)
    assert as_int(generated[1]) == 3000 and as_int(generated[4]) == 2700

    text = run_bench("dispatch", smoke_env)
    _, _, bureau, district, cell, _ = figures(
        text, rf"^route \+ deadline: {NUMBER} cases/s \(2000 cases",
        rf"^nearest 5 available units among 500: {NUMBER} queries/s, p50 {NUMBER} ms, p95 {NUMBER} ms; "
        rf"position updates {NUMBER}/s",
        rf"^evaluation by bureau over October \(3,000 cases\): {NUMBER} s, ({NUMBER}) rows, {NUMBER} reports and "
        rf"({NUMBER}) dispatches counted",
        rf"^evaluation by district over October \(3,000 cases\): {NUMBER} s, 1 rows, (3,000) reports",
        rf"^evaluation by cell over October \(3,000 cases\): {NUMBER} s, ({NUMBER}) rows, (3,000) reports",
        rf"^peak memory \(benchmark process\): {NUMBER} MB")
    # 9 cases in 10 are dispatched, each to a bureau: the cases the dashboard generated have theirs.
    assert as_int(bureau[1]) > 1 and as_int(bureau[2]) == 2700
    assert as_int(cell[1]) > 2000  # spread over the grid (about 3,500 cells), not a corner of it


def test_locate(smoke_env):
    text = run_bench("locate", smoke_env)
    *_, http_single, _, _ = figures(
        text, rf"^single locate \(function\): {NUMBER} lookups/s, p50 {NUMBER} ms, p95 {NUMBER} ms",
        rf"^batch locate \(function\): {NUMBER} points/s \(2000 points",
        rf"^single locate \(HTTP, gunicorn 2 workers, 4 clients\): {NUMBER} lookups/s, p50 {NUMBER} ms, "
        rf"p95 {NUMBER} ms \((\d+) outside the district: 404\)",
        rf"^batch locate \(HTTP POST, 2000 points\): {NUMBER} points/s",
        rf"^peak memory \(benchmark process\): {NUMBER} MB")
    assert int(http_single[1]) > 0  # there were 404s, and none of them reached the log (run_bench)


def test_intake(smoke_env):
    text = run_bench("intake", smoke_env)
    for match in figures(
            text, *(rf"^intake \({label}, .*\): {NUMBER} cases/s; p50 {NUMBER} ms, p95 {NUMBER} ms, p99 {NUMBER} ms;"
                    rf".* stored ({NUMBER}), lost (\d+), retries answered with another case (\d+)"
                    for label in ("JSON, no photo", r"with one 320×240 photo"))):
        assert as_int(match[1]) > 0 and match[2] == "0" and match[3] == "0"


def test_soak_with_a_worker_killed(smoke_env):
    text = run_bench("soak", smoke_env)
    _, books, *_ = figures(
        text, r"^soak \d+ s against .*; (\d+) workers SIGKILLed",
        rf"^requests sent ({NUMBER}) .*; cases stored ({NUMBER}); lost (\d+); duplicated (\d+); cases without "
        r"their intake log entry (\d+); photos without a file (\d+)",
        rf"^  inspector POST case +{NUMBER} +p50 +{NUMBER} ms +p95 +{NUMBER} ms +p99 +{NUMBER} ms",
        rf"^peak memory \(soak process\): {NUMBER} MB")
    assert as_int(books[2]) > 0 and books.groups()[2:] == ("0", "0", "0", "0")


def test_evaluation_and_bulletin(smoke_env):
    text = run_bench("evaluation", smoke_env)
    *_, cell, _, _, _ = figures(
        text, rf"^evaluation over October 2026 \(({NUMBER}) cases\), median of 1 \(smoke mode\):",
        *(rf"^  {dimension} +now: +{NUMBER} s \(({NUMBER}) rows\)" for dimension in ("bureau", "district", "street")),
        rf"^  cell +now: +{NUMBER} s \(({NUMBER}) rows\)",
        rf"^  inspector +now: +{NUMBER} s \(({NUMBER}) rows\)",
        rf"^  bulletin figures \(city, with last month and last year\): {NUMBER} s",
        rf"^peak memory \(benchmark process\): {NUMBER} MB")
    assert as_int(cell[1]) > 1000  # the cells of 3,000 cases, ranked


def test_sensors_through_mosquitto_with_an_ingest_and_a_broker_restart(smoke_env):
    text = run_bench("sensors", smoke_env)
    _, sent, cpu, alarms, _, _ = figures(
        text, rf"^ingest: ({NUMBER}) readings of ({NUMBER}) sensors from \d+ publishers, the ingest restarted once "
              r"in the middle and the broker once$",
        rf"^  sent ({NUMBER}), stored ({NUMBER}): (\d+) lost, (\d+) duplicated; minute rollups count ({NUMBER})",
        rf"^  CPU per reading .*; ({NUMBER}) µs in all, so two idle cores would carry about ({NUMBER}) readings/s",
        rf"^alarm → case in the feed: (\d+) alarms, p50 {NUMBER} ms, p95 ({NUMBER}) ms",
        rf"^storage \(vacuumed\): ({NUMBER}) bytes per raw reading",
        rf"^total {NUMBER} s, peak memory of this process {NUMBER} MB")
    assert as_int(sent[1]) == as_int(sent[2]) == as_int(sent[5]) > 0 and sent[3] == sent[4] == "0"
    assert as_int(cpu[1]) > 0 and as_int(cpu[2]) > 0
    assert as_int(alarms[1]) > 0


def test_assets(smoke_env):
    text = run_bench("assets", smoke_env)
    imported, _, nearest, view, isolation, under, _ = figures(
        text, rf"^census import: ({NUMBER}) components in {NUMBER} s, {NUMBER} components/s",
        rf"^water network: ({NUMBER}) segments, {NUMBER} points built",
        rf"^nearest of a subclass within 50 m \(HTTP, 2 workers, 4 clients\): p50 {NUMBER} ms, p95 ({NUMBER}) ms "
        rf"over 100 requests",
        rf"^map view 1600×900 at zoom 17 \(HTTP, 2 workers, 4 clients\): p50 {NUMBER} ms, p95 {NUMBER} ms over 100 "
        rf"requests; ({NUMBER}) features on average",
        rf"^valve isolation on {NUMBER} segments \(HTTP, 2 workers, 2 clients\): p50 {NUMBER} ms, p95 {NUMBER} ms "
        rf"over 20 requests; ({NUMBER}) valves on average",
        rf"^what is under here, 5 m \(HTTP, 2 workers, 4 clients\): p50 {NUMBER} ms, p95 {NUMBER} ms",
        rf"^peak memory \(benchmark process\): {NUMBER} MB")
    assert as_int(imported[1]) == 5000
    assert float(view[1]) > 50 and float(isolation[1]) >= 1  # views hold components; bursts close valves

def test_disk_per_case(smoke_env):
    text = run_bench("disk", smoke_env)
    counted, per_case, year, _, _ = figures(
        text, rf"^cases: ({NUMBER}) with ({NUMBER}) log entries \({NUMBER} per case\)",
        rf"^disk per case: ({NUMBER}) bytes \(the case and its indexes ({NUMBER}), its log entries and theirs "
        rf"({NUMBER})\)",
        rf"^a year of 1,200,000 cases \(a large city\): ({NUMBER}) GB; of 12,000,000 \(a provincial platform\): "
        rf"({NUMBER}) GB",
        r"^audit trail: ",
        rf"^total {NUMBER} s, peak memory of this process {NUMBER} MB")
    # The 3,000 generated here, and whatever the benchmarks before it left in the smoke database (sensor alarms).
    assert as_int(counted[1]) >= 3000 and as_int(counted[2]) > as_int(counted[1])  # most went round the loop
    assert abs(as_int(per_case[1]) - as_int(per_case[2]) - as_int(per_case[3])) <= 1  # the parts, rounded
    assert 200 < as_int(per_case[1]) < 100_000  # a case is bytes to kilobytes, not nothing nor megabytes


def test_emergency_board(smoke_env):
    text = run_bench("emergency", smoke_env)
    summary, http, _, _ = figures(
        text, rf"^incident YJ\d+: ({NUMBER}) cases in the area, ({NUMBER}) units, {NUMBER} resources, ({NUMBER}) tasks",
        rf"^incident board data \(HTTP, 2 workers, 4 clients\): p50 ({NUMBER}) ms, p95 ({NUMBER}) ms over 20 requests",
        rf"^incident board data \(HTTP, one client at a time\): p50 {NUMBER} ms",
        rf"^peak memory \(benchmark process\): {NUMBER} MB")
    # At least what it generated: the dispatch and soak benchmarks before it share the smoke database's units.
    assert as_int(summary[1]) >= 1000 and as_int(summary[2]) >= 100 and as_int(summary[3]) == 6
    assert float(http[1]) <= float(http[2])
def test_gazetteer(smoke_env):
    text = run_bench("gazetteer", smoke_env)
    generated, speed, rate, *_ = figures(
        text, rf"^generated ({NUMBER}) addresses on ({NUMBER}) roads \(({NUMBER}) landmarks\)",
        rf"^geocode over ({NUMBER}) addresses: {NUMBER} queries/s, p50 ({NUMBER}) ms, p95 ({NUMBER}) ms",
        rf"^hit rate on the messy test set: ({NUMBER})% first, ({NUMBER})% in the first 5 \(150 queries\)",
        rf"^  homophone in the road +{NUMBER}% first",
        rf"^reverse geocode: p50 {NUMBER} ms, p95 {NUMBER} ms \(200 points; (\d+) with a door number",
        rf"^peak memory \(benchmark process\): {NUMBER} MB")
    assert as_int(generated[1]) >= 20_000 and as_int(speed[1]) == as_int(generated[1])
    assert float(rate[1]) >= 80 and float(rate[2]) >= 90  # the messy queries mostly find their address first


def test_tiles(smoke_env):
    text = run_bench("tiles", smoke_env)
    data, cells15, *_ = figures(
        text, rf"data: ({NUMBER}) cases \(({NUMBER}) open\), ({NUMBER}) components",
        rf"tile cells z15: .* ({NUMBER}) bytes per tile",
        *(rf"tile {layer} z18: p50 {NUMBER} ms, p95 {NUMBER} ms over 20 tiles; {NUMBER} bytes"
          for layer in ("cells", "components", "pipes", "cases")),
        rf"cells at zoom 16: GeoJSON p50 {NUMBER} ms, .* tiles p50 {NUMBER} ms",
        rf"every open case of a zoom-12 view as clustered tiles: p50 {NUMBER} ms")
    # At least what it generated: the benchmarks before it in this module share the smoke database and add cases.
    assert as_int(data[1]) >= 5000 and as_int(data[3]) >= 5000
    assert as_int(cells15[1]) > 0  # cells drawn from zoom 13, so a zoom-15 tile holds some


def test_growth_from_one_size_to_the_next_in_one_run(smoke_env):
    # A database of its own, new: the run starts with stage 0 (intake into a new database's empty month).
    url = smoke_env["BENCH_SMOKE_DATABASE_URL"] + "_growth"
    _drop(url)
    try:
        text = run_bench("growth", {**smoke_env, "BENCH_SMOKE_DATABASE_URL": url})
    finally:
        _drop(url)
    stage1, stage2, intake, _dashboard, _bureau, _district, archived, _total, machine = figures(
        text, rf"^stage 1 \(smoke mode\): ({NUMBER}) cases in the tables, ({NUMBER}) bytes a case.*; (\d+) rows in "
              r"the DEFAULT partitions",
        rf"^stage 2 \(smoke mode\): ({NUMBER}) cases in the tables, ({NUMBER}) bytes a case.*; (\d+) rows in "
              r"the DEFAULT partitions",
        rf"^  intake: ({NUMBER}) → ({NUMBER}) cases/s, ratio {NUMBER}",
        rf"^  dashboard: slowest p95 at {NUMBER} {NUMBER} ms \(\w+ z\d+; target ≤ 300 ms\); at {NUMBER} {NUMBER} ms",
        rf"^  evaluation of October by bureau: {NUMBER} → {NUMBER} s, ratio {NUMBER}",
        rf"^  evaluation of October by district: {NUMBER} → {NUMBER} s, ratio {NUMBER}",
        rf"^  archive of \d{{4}}-\d{{2}}: ({NUMBER}) cases and ({NUMBER}) steps into the schema archive in {NUMBER} s",
        rf"^total [\d:]+, peak memory of this process {NUMBER} MB",
        rf"^  machine's fixed work, stage 2 against stage 1: python ({NUMBER}) ×, postgres ({NUMBER}) ×")
    assert len(re.findall(rf"^  machine: fixed work in {NUMBER} s in Python, {NUMBER} s in PostgreSQL", text,
                          re.MULTILINE)) == 2  # once a stage
    assert float(machine[1]) > 0 and float(machine[2]) > 0
    # Three archive months of 1,000 closed cases landed between the stages (and the first stage's intake).
    assert as_int(stage2[1]) - as_int(stage1[1]) >= 3000
    assert stage1[3] == stage2[3] == "0"  # each month made before its history landed
    assert as_int(intake[1]) > 0 and as_int(intake[2]) > 0
    assert as_int(archived[1]) == 1000 and as_int(archived[2]) > 1000  # the oldest month, whole, with its steps
    # Intake as the product is served, and the empty-table reference when the database had no case yet.
    served = re.findall(r"^  intake \(JSON, \d+ clients, gunicorn \d+ workers × \d+ threads,", text, re.MULTILINE)
    assert len(served) == 2
    # stage 0 on the new database: intake before and after the month's first analysis, the second the reference
    figures(text, r"^stage 0: no case in the tables",
            rf"^  intake into the month before its first analysis: {NUMBER} cases/s; .*; autovacuum (analysed it at "
            r"[\d:]+|did not analyse it meanwhile)$",
            rf"^  intake after it \({NUMBER} cases in the tables\): {NUMBER} cases/s",
            rf"^  intake into \(almost\) empty tables in this run: {NUMBER} cases/s; stage 1 {NUMBER} ×")


def test_upgrade_from_before_the_logs_place_with_reports_coming_in(smoke_env):
    text = run_bench("upgrade", smoke_env)
    _back, placed, done = figures(
        text, rf"^  back to 0014_case_cell_time in ({NUMBER}) s",
        rf"^  incidents.0022_caselog_place_in_batches: incidents_caselog_p\d{{6}}: ({NUMBER}) log entries placed",
        rf"^  migrate in {NUMBER} s with ({NUMBER}) reports meanwhile, the longest waited {NUMBER} ms; {NUMBER} cases, "
        rf"{NUMBER} log entries: lost 0 cases, 0 entries; entries without a place 0, placed wrong 0")
    assert as_int(placed[1]) > 1000 and as_int(done[1]) > 10  # the history's entries placed, reports went on
