"""The desk store: one SQLite file in WAL mode, shared by consoles, servers and feeds.

Every user action is one `Desk.transaction()`; every change appends a row to `events`, the
change feed other processes tail. All SQL of the desk lives in `core`, never in `tui`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.clock import CLOCK_OFFSET_SETTING, Clock, OffsetClock, SystemClock
from core.errors import NoDesk, StoreError
from core.store.schema import SCHEMA_VERSION, migrate, schema_version

#: A row as the store returns it (columns by name or position), and the open transaction the
#: store's functions take: what the rest of the desk may know of the backend.
Row = sqlite3.Row
Tx = sqlite3.Connection

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 10_000
#: A LIMIT that keeps every row (SQLite reads -1 so, PostgreSQL refuses it).
ALL_ROWS = 1 << 62
#: queue_key of a conversation nobody waits on: its last activity pushed behind every waiting one.
NOT_WAITING_OFFSET = 1 << 50


def queue_key(waiting_since: int | None, updated_at: int) -> int:
    """Queue order: longest-waiting customers first, then the rest by last activity."""
    return waiting_since if waiting_since is not None else NOT_WAITING_OFFSET + updated_at


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the change feed."""

    id: int
    kind: str
    at: int
    conversation_id: int | None
    item_id: int | None
    session_id: str | None
    profile_id: int | None
    agent_id: int | None


#: Desk files open in this process, by (device, inode): how many `Desk`s have each.
_OPEN_FILES: Counter[tuple[int, int]] = Counter()
_OPEN_FILES_LOCK = threading.Lock()


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _opened_here(path: Path) -> bool:
    key = _file_key(path)
    with _OPEN_FILES_LOCK:
        return key is not None and _OPEN_FILES[key] > 0


def _check_file(path: Path, *, create: bool) -> None:
    """Refuse, before SQLite touches it, anything that is not a desk file we may open."""
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a desk database file")
    if not path.exists():
        if not create:
            raise NoDesk(f"{path}: no such desk database (create one: gladdesk --db {path} init)")
        if not path.parent.is_dir():
            raise StoreError(f"{path}: directory {path.parent} does not exist")
        return
    if _opened_here(path):
        # Already open as a desk in this process (so already checked): its header is not
        # read again. Closing a descriptor of the file would drop every lock this process's
        # SQLite connections hold on it (POSIX locks belong to the process), and another
        # process could then take the WAL for unused and reset it under them: they would
        # read a stale desk from then on.
        return
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"{path}: cannot read: {exc.strerror}") from None
    if not header:
        raise StoreError(
            f"{path}: empty file, not a desk database (remove it or pick another path)"
        )
    if header != SQLITE_HEADER:
        raise StoreError(f"{path}: not an SQLite database file")


class _Transaction:
    """The context manager behind `Desk.transaction()` (a class: it sits on the hot path)."""

    __slots__ = ("desk",)

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def __enter__(self) -> sqlite3.Connection:
        desk = self.desk
        desk._lock.acquire()
        if desk._depth == 0:
            desk._touched.clear()
            try:
                desk._begin()
            except BaseException:
                desk._lock.release()
                raise
        desk._depth += 1
        return desk.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        desk = self.desk
        try:
            desk._depth -= 1
            if desk._depth == 0:
                desk.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
        finally:
            desk._lock.release()


class Desk:
    """An open desk database. Thread-safe: one connection guarded by a lock."""

    #: Which engine holds the desk: "sqlite" here, "postgresql" for `PgDesk`.
    dialect = "sqlite"

    def __init__(self, path: Path, conn: sqlite3.Connection, clock: Clock) -> None:
        #: Where secrets (`.keys`) and rules (`.rules.toml`) live: beside the desk file.
        self.path = path
        #: What `Desk.open` takes to open this desk again (the file, or a database URL).
        self.location: str = str(path)
        self.conn = conn
        self.clock = clock
        #: Whether `clock` is the desk's own (opened without one: see `record_clock_offset`).
        self.clock_recorded = False
        self._lock = threading.RLock()
        self._depth = 0
        # conversations that already have a change-feed row in the open transaction
        self._touched: set[int] = set()
        self._checkpoint_lock = threading.Lock()
        self._checkpointer: sqlite3.Connection | None = None
        #: Counted in `_OPEN_FILES` while open (see `_check_file`).
        self._open_key = _file_key(path)
        if self._open_key is not None:
            with _OPEN_FILES_LOCK:
                _OPEN_FILES[self._open_key] += 1

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, clock: Clock | None = None, create: bool = True) -> Desk:
        """Open (creating or migrating) the desk at `path`: a file, or a `postgresql://` URL
        (`core.store.postgres`).

        A file that is not a desk, or one from a newer gladdesk, raises StoreError and is left
        exactly as it was.
        """
        if is_postgres_url(path):
            from core.store.postgres import PgDesk

            return PgDesk.open_url(str(path), clock=clock, create=create)
        path = Path(path)
        _check_file(path, create=create)
        existed = path.exists()
        if not existed:
            # Private from the start: SQLite gives -wal and -shm the database file's mode.
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass  # another process created it first; SQLite opens it as it is
            except OSError as exc:
                raise StoreError(f"{path}: cannot create: {exc.strerror}") from None
        try:
            conn = sqlite3.connect(
                str(path),
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        except sqlite3.Error as exc:
            if not existed:
                path.unlink(missing_ok=True)
            raise StoreError(f"{path}: cannot open: {exc}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            version = schema_version(conn)
            if existed:
                cls._check_existing(path, conn, version)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn)
        except StoreError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            if not existed:
                path.unlink(missing_ok=True)
            raise StoreError(f"{path}: cannot open as a desk: {exc}") from None
        conn.row_factory = sqlite3.Row
        if clock is not None:
            return cls(path, conn, clock)
        try:
            desk = cls(path, conn, recorded_clock(str(path), conn))
        except StoreError:
            conn.close()
            raise
        desk.clock_recorded = True
        return desk

    @staticmethod
    def _check_existing(path: Path, conn: sqlite3.Connection, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path}: schema version {version} is newer than this gladdesk supports "
                f"({SCHEMA_VERSION}); upgrade gladdesk to open it"
            )
        if version == 0:
            tables = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()[0]
            if tables:
                raise StoreError(f"{path}: an SQLite database, but not a gladdesk desk")

    def close(self) -> None:
        with self._lock:
            self.conn.close()
        key, self._open_key = self._open_key, None
        if key is not None:
            with _OPEN_FILES_LOCK:
                _OPEN_FILES[key] -= 1
                if _OPEN_FILES[key] <= 0:
                    del _OPEN_FILES[key]
        with self._checkpoint_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint_apart(self) -> None:
        """From now on, copy the write-ahead log into the database only in `checkpoint()`,
        never in a commit.

        SQLite checkpoints in the commit that takes the log past 1,000 pages: that commit then
        waits for the copy and its fsyncs (10-30 ms here), holding the desk and, in a server,
        its event loop. A server calls this and `checkpoint()` from a task of its own.
        """
        with self._lock:
            self.conn.execute("PRAGMA wal_autocheckpoint = 0")
        with self._checkpoint_lock:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    str(self.path),
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=BUSY_TIMEOUT_MS / 1000,
                )

    def checkpoint(self) -> tuple[int, int]:
        """Copy what it can of the write-ahead log into the database, on a connection of its
        own (readers and writers carry on meanwhile); (pages in the log, pages copied)."""
        with self._checkpoint_lock:
            if self._checkpointer is None:
                raise StoreError("checkpoint() before checkpoint_apart()")
            row = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(row[1]), int(row[2])

    def __enter__(self) -> Desk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -----------------------------------------------------------------------

    def transaction(self) -> _Transaction:
        """One write transaction (BEGIN IMMEDIATE). Nested use joins the outer one.

        `with desk.transaction() as conn:` commits on success and rolls back on any error.
        """
        return _Transaction(self)

    def _begin(self) -> None:
        # busy_timeout covers ordinary waits; this loop outlasts a long checkpoint too.
        deadline = time.monotonic() + 30
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs."""
        with self._lock:
            if self.conn.in_transaction:
                yield self.conn
                return
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        with self._lock:
            return self.conn.execute(sql, params).fetchone()

    # -- change feed ------------------------------------------------------------------------

    def emit(
        self,
        kind: str,
        *,
        at: int | None = None,
        conversation_id: int | None = None,
        item_id: int | None = None,
        session_id: str | None = None,
        profile_id: int | None = None,
        agent_id: int | None = None,
    ) -> None:
        """Append to the change feed. Call inside `transaction()`. The row is there at the
        commit (PostgreSQL appends it then); `emit_marker` when its id is needed."""
        self._append(kind, at, conversation_id, item_id, session_id, profile_id, agent_id)

    def _append(
        self,
        kind: str,
        at: int | None,
        conversation_id: int | None,
        item_id: int | None,
        session_id: str | None,
        profile_id: int | None,
        agent_id: int | None,
    ) -> int:
        assert self._depth, "emit() outside a transaction"
        if conversation_id is not None:
            self._touched.add(conversation_id)
        cursor = self.conn.execute(
            "INSERT INTO events (kind, at, conversation_id, item_id, session_id, profile_id, agent_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                self.clock.now_ms() if at is None else at,
                conversation_id,
                item_id,
                session_id,
                profile_id,
                agent_id,
            ),
        )
        return int(cursor.lastrowid or 0)

    def emit_marker(
        self,
        kind: str,
        *,
        at: int | None = None,
        session_id: str | None = None,
        profile_id: int | None = None,
    ) -> int:
        """Append to the change feed and return the row's id (a session's horizon). Inside
        `transaction()`. (`emit` may append at the commit, on PostgreSQL.)"""
        return self._append(kind, at, None, None, session_id, profile_id, None)

    def touch(self, conversation_id: int) -> None:
        """Note that a conversation changed: one `conversation.updated` row per transaction,
        none when the transaction already wrote a feed row naming it (readers re-read the row).
        """
        if conversation_id not in self._touched:
            self.emit("conversation.updated", conversation_id=conversation_id)

    def events_after(self, last_id: int, limit: int = 1000) -> list[Event]:
        rows = self.query(
            "SELECT id, kind, at, conversation_id, item_id, session_id, profile_id, agent_id"
            " FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (last_id, limit),
        )
        return [Event(*row) for row in rows]

    def data_version(self) -> int:
        """A number that moves when another connection commits to the desk file.

        SQLite's `PRAGMA data_version`: this connection's own commits, and anything that
        commits nothing, leave it as it is. It reads no table, so a process tailing the change
        feed checks it every tick and reads `events` only when it moved: an idle tail costs
        next to nothing. Compare values of one `Desk` only (each connection counts its own).
        """
        row = self.query_one("PRAGMA data_version")
        return int(row[0]) if row else 0

    #: Whether `on_change` is told of other processes' commits (PostgreSQL's NOTIFY); on
    #: SQLite a tail checks `data_version()` instead.
    pushes_changes = False

    def on_change(self, callback: Callable[[], None]) -> None:
        raise StoreError("an SQLite desk does not push changes: check data_version()")

    def last_event_id(self) -> int:
        row = self.query_one("SELECT coalesce(max(id), 0) FROM events")
        return int(row[0]) if row else 0

    def last_event_at(self, kind: str) -> int | None:
        """When the newest `kind` event happened (ms), None when there is none."""
        row = self.query_one("SELECT max(at) FROM events WHERE kind = ?", (kind,))
        return int(row[0]) if row and row[0] is not None else None

    def latest_at(self) -> int | None:
        """The newest time (ms) among the last thousand change-feed rows; None on an empty desk.

        What a process joining the desk must not write before: every action appends a row.
        Bounded, so a desk with millions of events answers from the end of its index."""
        row = self.query_one(
            "SELECT max(at) FROM (SELECT at FROM events ORDER BY id DESC LIMIT 1000) AS recent"
        )
        return int(row[0]) if row and row[0] is not None else None

    # -- settings ---------------------------------------------------------------------------

    def setting(self, key: str, default: str | None = None) -> str | None:
        row = self.query_one("SELECT value FROM settings WHERE key = ?", (key,))
        return row[0] if row else default

    def set_setting(self, key: str, value: str, *, at: int | None = None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
            self.emit("settings.changed", at=at)

    def record_clock_offset(self, offset_ms: int) -> None:
        """Make this desk run `offset_ms` behind the wall clock in every process that opens
        it from now on without a clock of its own (see `OffsetClock`), this one included
        when it was opened so."""
        clock = OffsetClock(int(offset_ms))
        # The feed row is stamped in the desk's new time, not the wall clock's.
        self.set_setting(CLOCK_OFFSET_SETTING, str(clock.offset_ms), at=clock.now_ms())
        if self.clock_recorded:
            self.clock = clock

    # -- maintenance ------------------------------------------------------------------------

    def compact(self) -> None:
        """Rewrite the file without free pages (SQLite `VACUUM`). Outside a transaction."""
        with self._lock:
            self.conn.execute("VACUUM")

    @property
    def shown(self) -> str:
        """The desk's location as messages show it (a URL without its password)."""
        return self.location

    def insert_many(self, conn: Any, table: str, names: list[str], rows: list[Any]) -> None:
        """Insert rows of `names` (a bulk copy: `core.store.copy`)."""
        marks = ", ".join("?" * len(names))
        conn.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", rows)

    def lock_routing(self) -> None:
        """Hold the desk's routing decisions (who takes which chat, agent load against
        capacity) for this transaction: another process deciding waits for its commit. On
        SQLite every write transaction already runs alone (BEGIN IMMEDIATE)."""

    def sync_sequences(self) -> None:
        """After rows were copied in with their ids (SQLite continues after the largest)."""

    @property
    def keystore_path(self) -> Path:
        """Secrets (HS256 secrets, the desk's private key) live beside the database, never in it."""
        return self.path.with_name(self.path.name + ".keys")


def is_postgres_url(target: object) -> bool:
    """Whether `--db` names a PostgreSQL database rather than a file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def redact_url(url: str) -> str:
    """A database URL without its password (for messages and logs); anything else as it is."""
    from urllib.parse import urlsplit

    if not is_postgres_url(url):
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def recorded_clock(location: str, conn: Any) -> Clock:
    """The desk's own time: the wall clock, or shifted by the offset the desk records."""
    row = conn.execute(
        "SELECT value FROM settings WHERE key = ?", (CLOCK_OFFSET_SETTING,)
    ).fetchone()
    if row is None:
        return SystemClock()
    try:
        return OffsetClock(int(row[0]))
    except ValueError:
        raise StoreError(
            f"{location}: setting {CLOCK_OFFSET_SETTING} is {str(row[0])[:40]!r}, not a whole number"
            " of milliseconds"
        ) from None
