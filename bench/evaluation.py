"""The evaluation (综合评价) and the monthly bulletin over a month of 1,000,000 generated cases.

Times `dispatch.evaluation.evaluate` for each dimension over October 2026 (the flow figures from the case log
and the due figures — 应结案, 结案, 按期结案 — from the cases), and the whole bulletin's figures. With
`--compare-with REF` the evaluation module of that git revision (e.g. `main`) is loaded beside the current one
and timed in the same run, alternating, so that both meet the same machine and the same cache.

The benchmarks' city (bench/_city.py: 104,431 cells, a bureau of every kind) and its October history, in the
scratch database (DATABASE_URL when set, else citygrid_bench). `--smoke`: 4 communities and 3,000 cases in the
smoke database (bench/_django.py), in seconds — it checks the benchmark still runs, not how fast.

Usage: python bench/evaluation.py [--cases 1000000] [--repeat 3] [--compare-with main] [--smoke]
"""

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _city  # noqa: E402
import _django  # noqa: E402

START = _city.HISTORY_START  # October 2026
END = datetime(2026, 11, 1, tzinfo=ZoneInfo("Asia/Shanghai"))


def module_at(ref: str):
    """dispatch/evaluation.py as it is at git revision `ref`, imported as a module of its own."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "show", f"{ref}:dispatch/evaluation.py"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    path = Path(f"/tmp/citygrid_evaluation_{ref.replace('/', '_')}.py")
    path.write_text(source.replace("from .models import", "from dispatch.models import"))
    spec = importlib.util.spec_from_file_location(f"evaluation_{ref}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(fn, *args) -> tuple[float, object]:
    t = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, help="October's generated cases (1,000,000; smoke: 3,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is shown)")
    parser.add_argument("--compare-with", metavar="REF", help="also time dispatch/evaluation.py of this git ref")
    parser.add_argument("--dimensions", default="bureau,district,street,cell,inspector")
    parser.add_argument("--smoke", action="store_true", help="a small grid and 3,000 cases, once")
    args = parser.parse_args()
    cases = args.cases or (3000 if args.smoke else 1_000_000)
    repeat = 1 if args.smoke else args.repeat
    _django.setup(smoke=args.smoke)
    _city.build_grid(args.smoke)
    _city.ensure_history(cases)
    from dispatch import bulletin, evaluation
    from incidents.models import Case

    versions = {"now": evaluation}
    if args.compare_with:
        versions = {args.compare_with: module_at(args.compare_with), **versions}
    mode = " (smoke mode)" if args.smoke else ""
    print(f"evaluation over October 2026 ({Case.objects.count():,} cases), median of {repeat}{mode}:", flush=True)
    for dimension in args.dimensions.split(","):
        times: dict[str, list[float]] = {name: [] for name in versions}
        rows: dict[str, int] = {}
        for _ in range(repeat):
            for name, module in versions.items():  # alternating, so that both meet the same cache
                elapsed, result = timed(module.evaluate, dimension, START, END)
                times[name].append(elapsed)
                rows[name] = len(result)
        print("  " + f"{dimension:10}" + "; ".join(
            f"{name}: {statistics.median(t):6.2f} s ({rows[name]:,} rows)" for name, t in times.items()), flush=True)
    elapsed = [timed(bulletin.figures, START.date(), END.date(), None)[0] for _ in range(repeat)]
    print(f"  bulletin figures (city, with last month and last year): {statistics.median(elapsed):.2f} s")
    print(f"peak memory (benchmark process): {_django.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
