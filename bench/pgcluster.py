"""A throwaway PostgreSQL cluster for the benchmarks: ``initdb`` and ``pg_ctl`` in a temporary
folder, listening only on a Unix socket there (no TCP port), removed by ``stop()``. When run as root
the server runs as the ``postgres`` user, since PostgreSQL refuses root.

    with PgCluster.start_new() as cluster:    # None-safe: find_bin() says whether it can
        url = cluster.new_database("bench")   # postgresql://postgres@/bench?host=/tmp/...

The test suite's fixture (tests/pg.py) uses it too, with ``durable=False``. For a benchmark
durability is left on (fsync, synchronous commit): it measures what a server would do.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType


def find_bin() -> Path | None:
    """``KMSG_PG_BIN``, else the newest /usr/lib/postgresql/*/bin, else initdb on PATH."""
    if env := os.environ.get("KMSG_PG_BIN"):
        return Path(env) if (Path(env) / "initdb").exists() else None
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


class PgCluster:
    def __init__(self, bin_dir: Path, *, durable: bool = True) -> None:
        self.bin = bin_dir
        self.durable = durable  # False: fsync, synchronous commit and full pages off (tests)
        self.root = Path(tempfile.mkdtemp(prefix="kmsg-pg-"))
        self.data = self.root / "data"
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o700)
        self._names = itertools.count(1)

    @classmethod
    def start_new(cls) -> PgCluster:
        bin_dir = find_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found: apt install postgresql")
        cluster = cls(bin_dir)
        try:
            return cluster.start()
        except BaseException:
            shutil.rmtree(cluster.root, ignore_errors=True)
            raise

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}{tail}")

    def start(self) -> PgCluster:
        fast = () if self.durable else ("--no-sync",)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C", *fast)  # fmt: skip
        options = f"-c listen_addresses='' -k {self.root} -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-o", options, "start")  # fmt: skip
        return self

    def stop(self) -> None:
        try:
            mode = "fast" if self.durable else "immediate"
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.root}"

    def new_database(self, name: str | None = None) -> str:
        """A fresh, empty database (named, or ``t<pid>_<n>``); its URL."""
        if name is None:
            name = f"t{os.getpid()}_{next(self._names)}"
        create_database(self.url(), name)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        drop_database(self.url(), url.split("/")[3].split("?")[0])

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def create_database(admin_url: str, name: str) -> None:
    """``CREATE DATABASE name`` (dropped first if it exists) on the server of ``admin_url``."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 STRATEGY file_copy").format(
                sql.Identifier(name)
            )
        )


def drop_database(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def with_database(url: str, name: str) -> str:
    """``url`` with its database name replaced by ``name`` (query string, e.g. host=, kept)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))
