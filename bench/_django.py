"""Set-up shared by the benchmarks: Django on a scratch database of its own, so benchmark data never mixes
with the demo city (DATABASE_URL, when set, is used as it is)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB_URL = "postgis://@%2Fvar%2Frun%2Fpostgresql/citygrid_bench"


def setup(database_url: str | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", database_url or BENCH_DB_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citygrid.settings")
    os.environ.setdefault("DEBUG", "1")
    for args in (["create_database"], ["migrate", "--noinput", "-v0"]):
        subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, stdout=subprocess.DEVNULL)
    import django

    django.setup()


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
