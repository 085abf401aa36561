"""Disk per case and the growth per year (issue 19): what a case costs on disk with its log entries and every
index, measured on generated history in the benchmark's scratch database (bench/_city.py; the same cases the
dashboard benchmark uses, most of which went round the loop), after VACUUM so that dead rows count for nothing.

Prints the bytes per case (the case row and its indexes, its log entries and theirs, TOAST included), log
entries per case, and what a year takes for a city of 1,200,000 cases and for a provincial platform of ten
times that; then the audit trail's bytes per event over its monthly partitions.

--smoke: 4 communities (about 3,400 cells), 3,000 cases, in the smoke database (bench/_django.py), run by
`make test`.

Usage: python bench/disk.py [--cases 1000000] [--smoke]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _city  # noqa: E402
import _django  # noqa: E402

CITY_CASES_PER_YEAR = 1_200_000
PROVINCE_CASES_PER_YEAR = 12_000_000


def _relation_bytes(cur, table: str) -> int:
    """Heap, TOAST and every index of `table`; for a partitioned table, of all its partitions."""
    cur.execute("SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree(%s::regclass)), "
                "pg_total_relation_size(%s::regclass))", [table, table])
    return int(cur.fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    cases = 3000 if args.smoke else args.cases
    started = time.perf_counter()
    _django.setup(smoke=args.smoke)
    _city.build_grid(args.smoke)
    _city.ensure_history(cases)
    from django.db import connection

    from citygrid.dbroles import OWNER, connect

    owner = connect(OWNER, autocommit=True)  # VACUUM needs the tables' owner
    with owner.cursor() as cur:
        for table in ("incidents_case", "incidents_casekey", "incidents_caselog", "citygrid_auditevent"):
            cur.execute(f"VACUUM (ANALYZE) {table}")
    owner.close()
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM incidents_case")
        n_cases = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM incidents_caselog")
        n_log = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM citygrid_auditevent")
        n_audit = cur.fetchone()[0]
        # A case's key (its number and client id, unique across the months' partitions) is part of the case.
        case_bytes = _relation_bytes(cur, "incidents_case") + _relation_bytes(cur, "incidents_casekey")
        log_bytes = _relation_bytes(cur, "incidents_caselog")
        audit_bytes = _relation_bytes(cur, "citygrid_auditevent")
    per_case = (case_bytes + log_bytes) / n_cases
    print(f"cases: {n_cases:,} with {n_log:,} log entries ({n_log / n_cases:.1f} per case)")
    print(f"disk per case: {per_case:,.0f} bytes (the case and its indexes {case_bytes / n_cases:,.0f}, its log "
          f"entries and theirs {log_bytes / n_cases:,.0f})")
    print(f"a year of {CITY_CASES_PER_YEAR:,} cases (a large city): {per_case * CITY_CASES_PER_YEAR / 1e9:,.1f} GB; "
          f"of {PROVINCE_CASES_PER_YEAR:,} (a provincial platform): {per_case * PROVINCE_CASES_PER_YEAR / 1e9:,.1f} GB"
          f" (photos apart)")
    if n_audit:
        print(f"audit trail: {n_audit:,} events, {audit_bytes / n_audit:,.0f} bytes per event over its partitions")
    else:
        print("audit trail: no events yet")
    print(f"total {time.perf_counter() - started:.0f} s, peak memory of this process {_django.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
