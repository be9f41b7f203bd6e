"""PostgreSQL for the tests: a throwaway database per test session (and per xdist worker),
migrated once and used as the template of a fresh database per test.

The server: `$GLADDESK_TEST_PG` (a URL whose user may create databases), else the local
server `.ci/run` prepares (`postgresql://gladdesk:gladdesk@127.0.0.1:5432/postgres`). When
none answers, PostgreSQL tests skip and say why.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

DEFAULT_URL = "postgresql://gladdesk:gladdesk@127.0.0.1:5432/postgres"
ENV = "GLADDESK_TEST_PG"


def server_url() -> str:
    return os.environ.get(ENV) or DEFAULT_URL


def database_url(name: str) -> str:
    """The server's URL naming database `name`."""
    return urlsplit(server_url())._replace(path="/" + name).geturl()


class Server:
    """Creates and drops the session's databases on the test server."""

    def __init__(self, prefix: str) -> None:
        import psycopg

        self.prefix = prefix
        self.admin = psycopg.connect(server_url(), autocommit=True, connect_timeout=3)
        self.template = f"{prefix}_tmpl"
        self._numbers = itertools.count(1)
        self._leftover: set[str] = set()
        self._drop(self.template)
        self.admin.execute(
            f'CREATE DATABASE "{self.template}" ENCODING UTF8 LC_COLLATE "C"'
            f' LC_CTYPE "C" TEMPLATE template0'
        )
        from core.store import Desk

        with Desk.open(database_url(self.template)):
            pass  # migrated once: every test's database is a copy of it

    def _drop(self, name: str) -> None:
        """Drop `name`, waiting out an autovacuum worker on it (which FORCE cannot end for a
        role that is not a superuser); one still busy is dropped at the session's end."""
        import psycopg

        for _ in range(20):
            try:
                self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                self._leftover.discard(name)
                return
            except psycopg.errors.InsufficientPrivilege:
                time.sleep(0.1)
        self._leftover.add(name)

    def fresh(self) -> str:
        """A new database holding an empty desk; its URL."""
        name = f"{self.prefix}_{next(self._numbers)}"
        self._drop(name)
        self.admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return database_url(name)

    def empty(self) -> str:
        """A new database without a desk in it (for `init`, `db copy`); its URL."""
        name = f"{self.prefix}_{next(self._numbers)}"
        self._drop(name)
        self.admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return database_url(name)

    def copy(self, url: str) -> str:
        """A new database made from the one `url` names (`CREATE DATABASE ... TEMPLATE`: a
        file-level copy, nobody may be connected to it); its URL."""
        name = f"{self.prefix}_{next(self._numbers)}"
        self._drop(name)
        source = urlsplit(url).path.lstrip("/")
        self.admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        return database_url(name)

    def drop(self, url: str) -> None:
        self._drop(urlsplit(url).path.lstrip("/"))

    def close(self) -> None:
        for name in sorted(self._leftover):
            self._drop(name)
        self._drop(self.template)
        self.admin.close()


def start(worker: str) -> Iterator[Server]:
    """The session's server, or a skip saying why there is none."""
    try:
        import psycopg

        psycopg.connect(server_url(), connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: skip, and why
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        pytest.skip(
            f"no PostgreSQL server to test against ({reason}); set {ENV} to a URL whose"
            " user may create databases, or run .ci/run, which starts one"
        )
    # unique on this server even beside other test sessions (and their workers) running now
    server = Server(f"gladdesk_test_{worker}_{os.getpid()}_{secrets.token_hex(3)}")
    try:
        yield server
    finally:
        server.close()


def tables(url: str) -> list[str]:
    """The tables of the database `url` names (its current schema), by name."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() ORDER BY table_name"
        ).fetchall()
    return [r[0] for r in rows]


class BuiltDesk:
    """A desk built once into a database, the template of the tests' copies, and the local
    path its keystore and rules hang off (`PgDesk.path`)."""

    def __init__(self, url: str, sidecars: Path) -> None:
        self.url = url
        self.sidecars = sidecars

    def copy_sidecars(self, to: Path) -> None:
        """Give a copy of the database (whose `PgDesk.path` is `to`) the same keystore and
        rules."""
        to.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for source in self.sidecars.parent.glob(self.sidecars.name + ".*"):
            shutil.copy(source, to.with_name(to.name + source.name[len(self.sidecars.name) :]))
