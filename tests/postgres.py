"""A real PostgreSQL for the tests and the benchmark: `initdb` in a temporary folder, `pg_ctl start`
on a free loopback port, trust auth for its own superuser. PostgreSQL refuses to run as root, so
as root the server runs as the `postgres` user Debian's package creates."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from edge.broker import free_port, wait_for_port


def find_pg_bin() -> Path | None:
    """The folder with initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self, folder: Path | None = None, *, durable: bool = False) -> None:
        """`folder`: where the cluster lives (default: a new one under /tmp, which the `postgres` user can
        reach when we run as root; pytest's tmp_path is private to root)."""
        self.bin = find_pg_bin()
        if self.bin is None:
            raise FileNotFoundError("PostgreSQL's initdb/pg_ctl are not installed (Debian: apt-get install "
                                    "postgresql; scripts/setup.sh does it)")
        self.folder = folder or Path(tempfile.mkdtemp(prefix="gridwatch-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.durable = durable  # fsync on: the benchmark's figures; off: quicker tests, same semantics
        self._user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise FileNotFoundError("running as root and there is no `postgres` user to run PostgreSQL as "
                                        "(Debian's postgresql package creates it)") from exc
            self._user = "postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._user:
            command = ["runuser", "-u", self._user, "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._user:
            os.chmod(self.folder, 0o755)
            user = pwd.getpwnam(self._user)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c max_connections=200"
                   f" -c fsync={'on' if self.durable else 'off'}"
                   f" -c synchronous_commit={'on' if self.durable else 'off'}")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-o", options,
                  "-w", "-t", "60", "start")
        wait_for_port("127.0.0.1", self.port)
        return self

    def restart(self) -> None:
        """A fast stop (every session ended, as a crash or a failover would) and a start on the same port."""
        # -l again: without it the server would write to our pipe, and we would wait for it to close.
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-m", "fast", "-w",
                  "restart")
        wait_for_port("127.0.0.1", self.port)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.folder, ignore_errors=True)
