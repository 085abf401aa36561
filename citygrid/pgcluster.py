"""A PostgreSQL cluster of its own on this machine, driven with PostgreSQL's own programs (initdb, pg_ctl):
the cluster a point-in-time restore brings up beside the live one (`restore_to_time`), and the scratch clusters
of the restore drill and the restore benchmark, which must never reconfigure the machine's main cluster.

PostgreSQL refuses to run as root: when root drives it, every program runs as the cluster's OS user
(`postgres`) through runuser. No Django here: the backup jobs import this module without settings."""

import getpass
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class ClusterError(Exception):
    """A cluster cannot be made, started or reached; the message is one readable line (and the log's tail)."""


def bin_dir() -> Path:
    """The PostgreSQL programs: PG_BINDIR, else the newest /usr/lib/postgresql/N/bin (Debian's layout)."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    versions = sorted((p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "postgres").exists()),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if not versions:
        raise ClusterError("no PostgreSQL server programs in /usr/lib/postgresql/*/bin: install postgresql "
                           "(or set PG_BINDIR)")
    return versions[-1]


def default_os_user() -> str:
    """Who runs a cluster: `postgres` when root drives (PostgreSQL will not run as root), else whoever runs."""
    return "postgres" if os.geteuid() == 0 else getpass.getuser()


def as_os_user(cmd: list[str], user: str) -> list[str]:
    """`cmd` run as the OS user `user`: through runuser when root, as is when that user runs it already."""
    if user == getpass.getuser():
        return cmd
    if os.geteuid() != 0:
        raise ClusterError(f"{shlex.join(cmd[:2])}… must run as {user}: run this as {user} or as root")
    return ["runuser", "-u", user, "--", *cmd]


def chown_to(path: Path, user: str) -> None:
    """Give `path` (and what it holds) to `user`, when root made it for a cluster run by another user."""
    if os.geteuid() == 0 and user != getpass.getuser():
        shutil.chown(path, user, user)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                shutil.chown(Path(root) / name, user, user)


@dataclass
class Cluster:
    """One cluster: its data directory, its port, the directory of its Unix socket, its OS user."""

    data_dir: Path
    port: int
    socket_dir: Path
    os_user: str

    def _run(self, program: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        cmd = as_os_user([str(bin_dir() / program), *args], self.os_user)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"{program} did not finish in {timeout:.0f} s{self._log_tail()}") from exc
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise ClusterError(f"{program} failed: {lines[-1] if lines else done.returncode}{self._log_tail()}")
        return done

    @property
    def log_file(self) -> Path:
        # Beside the data directory, not in it: a base backup would copy it, a restore would find it there.
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def _log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n  " + "\n  ".join(text[-lines:]) if text else ""

    def initdb(self, superuser: str | None = None) -> None:
        """A new, empty cluster whose local socket trusts its users: for scratch clusters only (the drill, the
        benchmark), whose socket directory only its OS user and root can reach."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._run("initdb", "-D", str(self.data_dir), "-U", superuser or self.os_user, "--auth-local=trust",
                  "--auth-host=reject", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions")

    def configure(self, settings: dict[str, str | int], *, note: str) -> None:
        """Append settings to postgresql.auto.conf (read last, so they win over postgresql.conf)."""
        lines = [f"# {note}"] + [f"{name} = {_conf_value(value)}" for name, value in settings.items()]
        path = self.data_dir / "postgresql.auto.conf"
        with path.open("a", encoding="utf-8") as f:
            f.write("\n" + "\n".join(lines) + "\n")

    def listen_here(self) -> None:
        """This cluster's port and socket directory, and no TCP: what the others use must not be taken."""
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        chown_to(self.socket_dir, self.os_user)
        self.configure({"port": self.port, "unix_socket_directories": str(self.socket_dir),
                        "listen_addresses": ""}, note="CityGrid: this cluster's own port and socket")

    def start(self, timeout: float = 3600) -> None:
        """Start and wait until it accepts connections (a restored cluster may still be recovering then)."""
        self.log_file.touch()
        chown_to(self.log_file, self.os_user)
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", str(int(timeout)),
                  "start", timeout=timeout + 30)

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        cmd = as_os_user([str(bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "status"], self.os_user)
        return subprocess.run(cmd, capture_output=True).returncode == 0

    def connect(self, dbname: str = "postgres", user: str | None = None, **kwargs):
        """A psycopg2 connection over this cluster's socket (libpq's own user, PGUSER, when `user` is None)."""
        import psycopg2

        options = {"host": str(self.socket_dir), "port": self.port, "dbname": dbname, **kwargs}
        if user:
            options["user"] = user
        try:
            return psycopg2.connect(**options)
        except psycopg2.OperationalError as exc:
            raise ClusterError(f"cannot connect to the cluster at {self.socket_dir}:{self.port}: "
                               f"{str(exc).strip().splitlines()[0]}") from exc

    def wait_promoted(self, timeout: float = 3600, dbname: str = "postgres", user: str | None = None) -> None:
        """Wait until recovery has ended and the cluster has been promoted (it accepts writes)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                raise ClusterError(f"the cluster stopped during recovery{self._log_tail()}")
            try:
                conn = self.connect(dbname, user)
            except ClusterError:
                conn = None
            if conn is not None:
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT pg_is_in_recovery()")
                        if not cur.fetchone()[0]:
                            return
                finally:
                    conn.close()
            if time.monotonic() > deadline:
                raise ClusterError(f"recovery did not end in {timeout:.0f} s{self._log_tail()}")
            time.sleep(0.2)

    def url(self, dbname: str, user: str) -> str:
        """A DATABASE_URL for `user` on `dbname` over this cluster's socket."""
        return f"postgis://{user}@{str(self.socket_dir).replace('/', '%2F')}:{self.port}/{dbname}"


def _conf_value(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
