"""The application served by gunicorn in a subprocess, as `make run` serves it, for tests that need a real
server's threads and processes (the Django test server is a different, unlimited-thread server)."""

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """The URL of the database the tests run in, as the role they run as (committed data only)."""
    db = connection.settings_dict
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = (db.get("HOST") or "/var/run/postgresql").replace("/", "%2F")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgis://{user}{password}@{host}{port}/{db['NAME']}"


@contextmanager
def gunicorn(*, workers: int = 1, threads: int = 4, **env: str) -> Iterator[int]:
    """Serve on a free loopback port for as long as the block runs; yields the port."""
    port = free_port()
    environ = {**os.environ, "DATABASE_URL": database_url(), "DEBUG": "1", "LOG_LEVEL": "ERROR", **env}
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
        yield port
    finally:
        server.terminate()
        server.wait()
