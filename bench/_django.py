"""Set-up shared by the benchmarks: Django on a scratch database of its own, so benchmark data never mixes
with the demo city (DATABASE_URL, when set, is used as it is), and the application served by gunicorn on a
free port of the loopback.

Smoke mode (--smoke, what `make test` runs) uses another scratch database, named after the DATABASE_URL in
force with `_benchsmoke` appended (citygrid_benchsmoke by default), or BENCH_SMOKE_DATABASE_URL: never the
demo database, the test database or the full-size benchmark database."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Served and measured as the runtime role, like `make run` (the owner and backup roles follow DATABASE_URL).
BENCH_DB_URL = "postgis://citygrid_app@%2Fvar%2Frun%2Fpostgresql/citygrid_bench"
DEFAULT_DB_URL = "postgis://citygrid_app@%2Fvar%2Frun%2Fpostgresql/citygrid"
BENCH_SECRET_KEY = "bench-only-" + "x" * 50  # the benchmark process and its server sign sessions alike


def smoke_database_url() -> str:
    """The scratch database of smoke runs: BENCH_SMOKE_DATABASE_URL, else DATABASE_URL's (or the default
    database's) name + `_benchsmoke`, so engineers who keep apart by DATABASE_URL stay apart here too."""
    if os.environ.get("BENCH_SMOKE_DATABASE_URL"):
        return os.environ["BENCH_SMOKE_DATABASE_URL"]
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(os.environ.get("DATABASE_URL") or DEFAULT_DB_URL)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_benchsmoke"))


def setup(database_url: str | None = None, smoke: bool = False) -> None:
    sys.path.insert(0, str(ROOT))
    if smoke:
        os.environ["DATABASE_URL"] = smoke_database_url()
    os.environ.setdefault("DATABASE_URL", database_url or BENCH_DB_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citygrid.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", BENCH_SECRET_KEY)
    for args in (["create_database"], ["migrate", "--noinput", "-v0"]):
        subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, stdout=subprocess.DEVNULL)
    import django

    django.setup()
    from django.conf import settings

    print(f"database {settings.DATABASES['default']['NAME']}" + (" (smoke mode)" if smoke else ""), flush=True)


def shipped_workers() -> tuple[int, int]:
    """gunicorn's workers and threads as the product is served (deploy/gunicorn.conf.py, which reads WORKERS and
    THREADS): intake is measured as it runs, not in a shape chosen for the benchmark."""
    import runpy

    conf = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    return conf["workers"], conf["threads"]


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    """A port nobody listens on now: other engineers serve and test on this machine at the same time."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _answers(process: subprocess.Popen, port: int, seconds: float) -> bool:
    """Whether our server (still running: not another one on a port it failed to bind) answers /healthz."""
    import http.client
    import time

    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return process.poll() is None
        except OSError:
            pass
        time.sleep(0.1)
    return False


@contextmanager
def gunicorn(workers: int, threads: int = 1, **env: str) -> Iterator[Server]:
    """The application served by gunicorn on a free port of 127.0.0.1 in production mode, for as long as
    the block runs. Requests refused on their merits (400, 403, 404, 409) are not logged (LOG_LEVEL=ERROR):
    thousands of them would hide the figures; a 500 still is."""
    # Production mode over plain HTTP on the loopback: no redirect to HTTPS.
    environ = {**os.environ, "DEBUG": "0", "SECRET_KEY": BENCH_SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1",
               "LOG_LEVEL": "ERROR", "SECURE_SSL_REDIRECT": "0", "SECURE_COOKIES": "0", **env}
    # Production mode serves hashed static files: their manifest must be current (collected again only when the
    # sources changed: `make` has usually just done it).
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "refresh_static", "-v0"], cwd=ROOT, env=environ,
                   check=True)
    for _attempt in range(3):  # the port may be taken between choosing it and binding it
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "citygrid.wsgi", "--bind", f"127.0.0.1:{port}",
                                    "--workers", str(workers), "--threads", str(threads), "--log-level", "warning"],
                                   cwd=ROOT, env=environ)
        if _answers(process, port, seconds=60):
            break
        if process.poll() is None:
            process.terminate()
            process.wait()
            raise SystemExit(f"gunicorn on port {port} did not answer /healthz within 60 s")
    else:
        raise SystemExit("gunicorn did not start (see its messages above)")
    try:
        yield Server(process, port)
    finally:
        process.terminate()
        process.wait()


def timed_gets(port: int, key: str, urls: list[str], clients: int = 4,
               measure: Callable[[bytes], int] = len, accept: frozenset[int] = frozenset({200}),
               tally: dict[int, int] | None = None) -> tuple[list[float], list[int], float]:
    """GET every URL with a token from `clients` threads on persistent connections: the latencies (s, sorted),
    `measure` of each body (its length by default) and the wall time. A status not in `accept` fails the run;
    `tally`, when given, counts the answers by status."""
    import http.client
    import threading
    import time

    lat: list[float] = []
    sizes: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client(chunk: list[str]) -> None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            mine, measured, seen = [], [], {}
            for url in chunk:
                t = time.perf_counter()
                conn.request("GET", url, headers={"Authorization": f"Token {key}"})
                r = conn.getresponse()
                body = r.read()
                mine.append(time.perf_counter() - t)
                if r.status not in accept:
                    raise AssertionError(f"GET {url} answered {r.status}: {body[:200]!r}")
                measured.append(measure(body))
                seen[r.status] = seen.get(r.status, 0) + 1
            with lock:
                lat.extend(mine)
                sizes.extend(measured)
                if tally is not None:
                    for status, count in seen.items():
                        tally[status] = tally.get(status, 0) + count
        except BaseException as exc:  # handed to the main thread, which fails the run
            with lock:
                failures.append(exc)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(urls[k::clients],)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"HTTP benchmark failed: {failures[0]!r}")
    lat.sort()
    return lat, sizes, time.perf_counter() - t0
