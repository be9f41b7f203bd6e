"""A private, throwaway PostgreSQL server for tests that stop and start it (outages).

Never the shared test server (`tests/pg.py`): other tests use that one. `initdb` makes a
cluster in a folder of its own, `pg_ctl` starts it on a free loopback port and stops it. Run
as root, the server runs as the `postgres` user (PostgreSQL refuses root), in a folder that
user owns. Without `initdb` on this machine, the test skips and says why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Where the server's programs are looked for ($GLADDESK_PG_BIN first, then PATH).
BIN_DIRS = (
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/17/bin",
)
SUPERUSER = "gladdesk_admin"


def _bin_dir() -> Path | None:
    for folder in (os.environ.get("GLADDESK_PG_BIN"), *BIN_DIRS):
        if folder and (Path(folder) / "initdb").is_file():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """One private server: `url(database)`, `stop()` (fast: connections are cut), `start()`."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = _free_port()
        # Not under pytest's tmp folder: its parents are private to root, and the server may
        # run as `postgres`.
        self.folder = Path(tempfile.mkdtemp(prefix="gladdesk-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self._as, str(self.bin / program), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories="
            f"{self.folder} -c fsync=off -c max_connections=40"
        )
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log),
                  "-o", options)  # fmt: skip

    def stop(self) -> None:
        """`pg_ctl stop -m fast`: open sessions are cut, nothing committed is lost."""
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.data))

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "immediate", "-D", str(self.data))
        shutil.rmtree(self.folder, ignore_errors=True)


def private_cluster() -> Iterator[Cluster]:
    """A started private server, removed afterwards; skips when PostgreSQL's server programs
    are not installed."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip(
            "no initdb on this machine (PostgreSQL's server programs): outage tests need a"
            " private server to stop; set GLADDESK_PG_BIN to the folder holding initdb"
        )
    cluster = Cluster(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
