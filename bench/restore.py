"""Recovery figures (README, Operations): RPO — how long a committed change waits before its WAL is in the
archive, so the most a lost server can lose — and RTO — how long `manage.py restore_to_time` takes to bring
a database back into a new cluster and promote it —, measured on a PostgreSQL cluster of its own (never the
machine's main cluster), archiving through pgBackRest into two encrypted repositories as installed.

    bench/restore.py --demo            # the demo city (load_demo: 4,252 cells, 3,000 cases)
    bench/restore.py --cases 1000000   # the benchmarks' district (104,431 cells) with a million cases

The data is loaded with archiving to /bin/true (loading a million cases is not what is measured, and its
gigabytes of WAL would only fill the repositories), then archiving goes to pgBackRest, the stanza is made, a
full backup taken into both repositories (timed), the RPO sampled with the production archive_timeout, a
few cases written after the backup (so the restore replays WAL too), and the restore timed from repository 1."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from citygrid import pitr  # noqa: E402
from citygrid.pgcluster import Cluster, chown_to, default_os_user  # noqa: E402

DB = "citygrid"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], env: dict, what: str) -> tuple[str, float]:
    started = time.monotonic()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{what} failed after {seconds:.0f} s:\n{done.stdout}\n{done.stderr}")
    print(f"{what}: {seconds:.1f} s", flush=True)
    return done.stdout, seconds


def fill_cases(n: int) -> None:
    """In a child process pointed at the scratch cluster: the benchmarks' district and n cases."""
    import _city
    import _django

    _django.setup(os.environ["DATABASE_URL"])
    _city.build_grid()
    _city.ensure_history(n)


def sample_rpo(cluster: Cluster, user: str, samples: int) -> list[float]:
    """Seconds from a commit to its WAL segment being archived, with nothing else written meanwhile."""
    conn = cluster.connect(DB, user=user)
    conn.autocommit = True
    delays = []
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS rpo_probe (at timestamptz)")
        for _ in range(samples):
            cur.execute("INSERT INTO rpo_probe VALUES (now())")
            committed = time.monotonic()
            cur.execute("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
            segment = cur.fetchone()[0]
            while True:
                cur.execute("SELECT last_archived_wal FROM pg_stat_archiver")
                archived = cur.fetchone()[0]
                if archived is not None and archived >= segment:
                    break
                time.sleep(0.1)
            delays.append(time.monotonic() - committed)
            print(f"RPO sample: committed change archived after {delays[-1]:.1f} s", flush=True)
            time.sleep(7)  # not in step with archive_timeout
    conn.close()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--demo", action="store_true")
    what.add_argument("--cases", type=int)
    what.add_argument("--fill-cases", type=int, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--rpo-samples", type=int, default=3)
    parser.add_argument("--archive-timeout", type=int, default=60)
    args = parser.parse_args()
    if args.fill_cases:
        sys.path.insert(0, str(ROOT / "bench"))
        fill_cases(args.fill_cases)
        return

    os_user = default_os_user()
    path = Path(tempfile.mkdtemp(prefix="citygrid-restore-bench-", dir="/tmp"))
    for name in ("repo1", "repo2", "log", "lock", "spool", "sock", "media"):
        (path / name).mkdir()
    chown_to(path, os_user)
    backup_env = {
        "BACKUP_STANZA": "bench", "BACKUP_CONFIG": str(path / "pgbackrest.conf"), "BACKUP_OS_USER": os_user,
        "BACKUP_PG_PATH": str(path / "data"), "BACKUP_PG_SOCKET": str(path / "sock"),
        "BACKUP_PG_PORT": str(free_port()),
        "BACKUP_REPO1_PATH": str(path / "repo1"), "BACKUP_REPO1_CIPHER_PASS": "bench-local-passphrase-0123456789",
        "BACKUP_REPO2_PATH": str(path / "repo2"), "BACKUP_REPO2_CIPHER_PASS": "bench-offsite-passphrase-987654321",
        "BACKUP_LOG_PATH": str(path / "log"), "BACKUP_LOCK_PATH": str(path / "lock"),
        "BACKUP_SPOOL_PATH": str(path / "spool"), "BACKUP_STATUS_DIR": str(path / "status"),
        "BACKUP_ARCHIVE_TIMEOUT": str(args.archive_timeout),
    }
    cfg = pitr.config_from_env(backup_env)
    (path / "pgbackrest.conf").write_text(pitr.render_pgbackrest_conf(cfg), encoding="utf-8")
    os.chmod(path / "pgbackrest.conf", 0o600)
    chown_to(path / "pgbackrest.conf", os_user)
    live = Cluster(data_dir=path / "data", port=cfg.pg_port, socket_dir=path / "sock", os_user=os_user)
    restored = None
    try:
        live.initdb()
        live.listen_here()
        live.configure({**pitr.archive_settings(cfg), "archive_command": "/bin/true", "max_wal_size": "4GB"},
                       note="bench: archiving discarded while loading")
        live.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BACKUP_", "PG"))}
        env.update(backup_env, DATABASE_URL=live.url(DB, "citygrid_app"), PGUSER=os_user, REDIS_URL="off",
                   MEDIA_ROOT=str(path / "media"), LOG_LEVEL="ERROR", DEBUG="1")
        manage = [sys.executable, "manage.py"]
        run([*manage, "create_database"], env, "create_database")
        run([*manage, "migrate", "--noinput", "-v0"], env, "migrate")
        if args.demo:
            run([*manage, "load_demo"], env, "load_demo")
        else:
            run([sys.executable, "bench/restore.py", "--fill-cases", str(args.cases)], env,
                f"{args.cases:,} cases generated")
        live.configure({"archive_command": pitr.archive_settings(cfg)["archive_command"]},
                       note="bench: archiving through pgBackRest from here")
        conn = live.connect(DB, user=os_user)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_reload_conf()")
            cur.execute("CHECKPOINT")
            cur.execute("SELECT pg_size_pretty(pg_database_size(current_database())), "
                        "(SELECT count(*) FROM incidents_case), (SELECT count(*) FROM incidents_caselog)")
            size, cases, log = cur.fetchone()
        conn.close()
        print(f"database: {size}, {cases:,} cases, {log:,} case-log entries", flush=True)
        job = [sys.executable, "-m", "citygrid.pitr"]
        run([*job, "stanza-create"], env, "stanza-create")
        _, backup_s = run([*job, "backup", "--type", "full"], env, "full backup into both repositories")
        repo_sizes = {n: subprocess.run(["du", "-sh", str(path / n)], capture_output=True, text=True).stdout.split()[0]
                      for n in ("repo1", "repo2")}
        print(f"repositories after the full backup: {repo_sizes}", flush=True)
        delays = sample_rpo(live, os_user, args.rpo_samples)
        conn = live.connect(DB, user=os_user)
        conn.autocommit = True
        with conn.cursor() as cur:  # written after the backup: the restore replays them from the archive
            cur.execute("UPDATE incidents_case SET description = description || ' ' WHERE id IN "
                        "(SELECT id FROM incidents_case ORDER BY id DESC LIMIT 1000)")
            cur.execute("SELECT clock_timestamp()")
            target = cur.fetchone()[0]
            # Recovery stops at the first commit after the target: there must be one in the archive.
            cur.execute("INSERT INTO rpo_probe VALUES (now())")
            cur.execute("SELECT pg_switch_wal()")
        conn.close()
        time.sleep(3)
        restored_port = free_port()
        out, restore_s = run([*manage, "restore_to_time", "--target", target.isoformat(), "--data-dir",
                              str(path / "restored"), "--port", str(restored_port), "--socket-dir", str(path / "sock"),
                              "--repo", "1", "--database", DB], env, "restore_to_time (repository 1)")
        restored = Cluster(data_dir=path / "restored", port=restored_port, socket_dir=path / "sock", os_user=os_user)
        print(out, flush=True)
        print(json.dumps({"dataset": "demo" if args.demo else f"{args.cases} cases", "database_size": size,
                          "cases": cases, "case_log": log, "full_backup_both_repos_s": round(backup_s, 1),
                          "repositories": repo_sizes, "rpo_samples_s": [round(d, 1) for d in delays],
                          "archive_timeout_s": args.archive_timeout, "restore_to_time_s": round(restore_s, 1)},
                         ensure_ascii=False), flush=True)
    finally:
        for cluster in (restored, live):
            if cluster is not None:
                try:
                    cluster.stop()
                except Exception as exc:
                    print(f"could not stop {cluster.data_dir}: {exc}")
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
