"""Heavy reads on a real streaming replica (citygrid/replicas.py, README "Growth").

A PostgreSQL cluster of the test's own is the primary (the machine's main cluster is never reconfigured), its
database made by the product's commands; a second cluster is its hot standby, made as an operator makes one
(pg_basebackup -R, streaming). The product is served by gunicorn with DATABASE_REPLICA_URL naming the standby.
With the standby's replay paused — a replica that lags —:

- a leader's export (a heavy read) shows the city as the replica has it: a registration made meanwhile is not
  there yet, which proves the read went to the replica;
- the operator who registered the case sees his registration at once (read-your-writes: the primary);
- the transition itself went to the primary, whatever the replica says.

Replay resumed, the leader sees it too. The standby stopped, every read answers from the primary, no error."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import Request, urlopen

import pytest
from django.conf import settings

from citygrid.pgcluster import Cluster, as_os_user, bin_dir, chown_to, default_os_user
from tests.servers import free_port, gunicorn

ROOT = Path(__file__).resolve().parent.parent
DB = "citygrid"


def _run(args: list[str], env: dict, what: str) -> str:
    started = time.monotonic()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{what} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    print(f"replica test: {what} {time.monotonic() - started:.1f} s")
    return done.stdout


@pytest.fixture
def clusters():
    # In /tmp, not pytest's folder: the clusters' OS user (postgres, when root runs the suite) must reach it.
    path = Path(tempfile.mkdtemp(prefix="citygrid-replica-", dir="/tmp"))
    made: list[Cluster] = []
    yield path, made
    for cluster in reversed(made):
        try:
            cluster.stop()
        except Exception as exc:  # the test's own failure matters more than the clean-up's
            print(f"replica test: could not stop {cluster.data_dir}: {exc}")
    shutil.rmtree(path, ignore_errors=True)


def _statuses(port: int, token: str) -> dict[str, str]:
    """The cases' statuses as the export (a heavy read, declared for the replica) gives them to this user."""
    request = Request(f"http://127.0.0.1:{port}/api/cases/export/?as=geojson",
                      headers={"Authorization": f"Token {token}"})
    with urlopen(request, timeout=30) as response:
        assert response.status == 200
        features = json.load(response)["features"]
    return {f["id"]: f["properties"]["status"] for f in features}


def _post(port: int, token: str, path: str, body: dict) -> int:
    request = Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
                      headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    with urlopen(request, timeout=30) as response:
        return response.status


def _standby_status(standby: Cluster, number: str, os_user: str) -> str | None:
    conn = standby.connect(DB, user=os_user)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM incidents_case WHERE number = %s", [number])
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def _superuser_sql(cluster: Cluster, os_user: str, sql: str) -> None:
    conn = cluster.connect("postgres", user=os_user)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _until(check, what: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {seconds:.0f} s"
        time.sleep(0.2)


def test_heavy_reads_go_to_the_replica_and_a_writer_reads_his_own_writes(clusters):
    path, made = clusters
    os_user = default_os_user()
    (path / "sock").mkdir()
    chown_to(path, os_user)
    primary = Cluster(data_dir=path / "primary", port=free_port(), socket_dir=path / "sock", os_user=os_user)
    made.append(primary)
    primary.initdb()  # its local socket trusts replication too: pg_basebackup needs nothing more
    primary.listen_here()
    primary.start()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BACKUP_", "PG"))}
    env.update(DATABASE_URL=primary.url(DB, "citygrid_app"), PGUSER=os_user, REDIS_URL=settings.REDIS_URL,
               LOG_LEVEL="ERROR")
    _run([sys.executable, "manage.py", "create_database"], env, "create_database")
    _run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env, "migrate")
    data = json.loads(_run([sys.executable, "tests/replica_city.py"], env, "the city and its cases"))
    registered, reported = data["registered"], data["reported"]

    # The standby, as an operator makes one: a base backup streaming its WAL, then replication (-R).
    standby = Cluster(data_dir=path / "standby", port=free_port(), socket_dir=path / "sock", os_user=os_user)
    subprocess.run(as_os_user([str(bin_dir() / "pg_basebackup"), "-D", str(standby.data_dir), "-R", "-X", "stream",
                               "-c", "fast", "-h", str(primary.socket_dir), "-p", str(primary.port), "-U", os_user],
                              os_user),
                   check=True, capture_output=True, timeout=300)
    made.append(standby)
    standby.listen_here()
    standby.start()
    _until(lambda: _standby_status(standby, reported, os_user) == "reported", "the standby has the cases")

    with gunicorn(workers=2, DATABASE_URL=primary.url(DB, "citygrid_app"),
                  DATABASE_REPLICA_URL=standby.url(DB, "citygrid_app"), REDIS_URL=settings.REDIS_URL,
                  FORCE_PASSWORD_CHANGE="0", OTP_REQUIRED_ROLES="", READ_YOUR_WRITES_SECONDS="60",
                  REPLICA_RETRY_SECONDS="1") as port:
        expected = {**dict.fromkeys(registered, "registered"), reported: "reported"}
        assert _statuses(port, data["leader"]) == expected

        _superuser_sql(standby, os_user, "SELECT pg_wal_replay_pause()")  # the replica lags from now on
        assert _post(port, data["operator"], f"/api/cases/{reported}/register/", {"note": "replica"}) == 200

        # The leader's heavy read comes from the replica: the registration is not there yet.
        assert _statuses(port, data["leader"])[reported] == "reported"
        # The operator who registered it reads his own write (the primary), on every worker.
        for _ in range(4):
            assert _statuses(port, data["operator"])[reported] == "registered"

        _superuser_sql(standby, os_user, "SELECT pg_wal_replay_resume()")
        _until(lambda: _statuses(port, data["leader"])[reported] == "registered", "the leader sees it replayed")

        # The replica gone: the same reads answer from the primary, for the leader too.
        standby.stop()
        for _ in range(4):
            assert _statuses(port, data["leader"]) == {**expected, reported: "registered"}
