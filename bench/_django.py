"""Set-up shared by the benchmarks: Django on a scratch database of its own, so benchmark data never mixes
with the demo city (DATABASE_URL, when set, is used as it is)."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Served and measured as the runtime role, like `make run` (the owner and backup roles follow DATABASE_URL).
BENCH_DB_URL = "postgis://citygrid_app@%2Fvar%2Frun%2Fpostgresql/citygrid_bench"
BENCH_SECRET_KEY = "bench-only-" + "x" * 50  # the benchmark process and its server sign sessions alike


def setup(database_url: str | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", database_url or BENCH_DB_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citygrid.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", BENCH_SECRET_KEY)
    for args in (["create_database"], ["migrate", "--noinput", "-v0"]):
        subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, stdout=subprocess.DEVNULL)
    import django

    django.setup()


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def gunicorn(port: int, workers: int, threads: int = 1, **env: str) -> Iterator[subprocess.Popen]:
    """The application served by gunicorn on 127.0.0.1:port in production mode, for as long as the block runs."""
    import http.client
    import time

    # Production mode over plain HTTP on the loopback: no redirect to HTTPS.
    environ = {**os.environ, "DEBUG": "0", "SECRET_KEY": BENCH_SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1",
               "LOG_LEVEL": "ERROR", "SECURE_SSL_REDIRECT": "0", "SECURE_COOKIES": "0", **env}
    # Production mode serves hashed static files: their manifest must be current.
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "collectstatic", "--noinput", "-v0"], cwd=ROOT,
                   env=environ, check=True)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "citygrid.wsgi", "--bind", f"127.0.0.1:{port}",
                               "--workers", str(workers), "--threads", str(threads), "--log-level", "warning"],
                              cwd=ROOT, env=environ)
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        yield server
    finally:
        server.terminate()
        server.wait()
