"""The desk in a PostgreSQL database: `PgDesk`, the same calls as the SQLite `Desk`.

The store's SQL is written once, in the portable subset both engines share; `PgTx` runs it
on psycopg 3 (its `?` placeholders become `%s`, `LIKE` keeps SQLite's case-insensitive
meaning, an INSERT into a table with an `id` returns it as `lastrowid`), and `PgRow` answers
by column name or position like `sqlite3.Row`. The schema is `core.store.schema_pg`.

- Connections come from a psycopg pool; a broken one (the server restarted) is dropped and
  replaced on its own. While the server cannot be reached every call fails at once with
  `StoreUnavailable` (the web side answers 503).
- Writes of one process take turns (one lock, as on SQLite); several processes write at once.
  Change-feed ids must become visible in id order, or a reader tailing `id > last` would skip
  a row committed late: a transaction takes the feed's advisory lock at its first `emit()`
  and keeps it to its commit. The same commit notifies channel `gladdesk_events`.
- `data_version()` counts those notifications (a listening connection of this desk), so a
  console or server tails the feed only when something happened; `on_change` runs a callback
  for each one. Nobody polls the database.
- Secrets and rules stay out of the database: beside a local base path (`sidecar_base`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import psycopg_pool
from psycopg.adapt import Loader
from psycopg.types.numeric import IntDumper

from core.clock import Clock, SystemClock
from core.errors import DeskError, NoDesk, StoreError, StoreUnavailable
from core.store.desk import Desk, Event, is_postgres_url, recorded_clock, redact_url

__all__ = ["PgDesk", "is_postgres_url", "redact_url", "sidecar_base"]

#: The channel every commit that appended to the change feed notifies.
CHANNEL = "gladdesk_events"
#: The advisory lock (pg_advisory_xact_lock key) that orders change-feed commits.
FEED_LOCK = 0x6C616464_65736B  # "laddesk"
#: The advisory lock routing decisions take (`lock_routing`).
ROUTING_LOCK = 0x6C616464_726F75  # "laddrou"
#: How long a call waits for a pooled connection before the desk counts as unreachable.
CONNECT_TIMEOUT_S = 3.0
POOL_MAX = 4
#: How long the pool retries (backing off: 1, 2, 4 s...) to replace a connection lost with the
#: server before it gives that slot up. Given up, the next call that needs a connection tries
#: at once: after an outage of any length the desk serves again on the first call once the
#: server is back, instead of after a backoff grown as long as the outage.
RECONNECT_GIVE_UP_S = 4.0
#: Tables whose rows get an integer `id` from the database: an INSERT returns it.
ID_TABLES = frozenset(
    {
        "agents",
        "api_users",
        "conversations",
        "events",
        "inboxes",
        "items",
        "profiles",
        "token_audit",
    }
)
#: The pool logs each failed reconnection attempt; while the server is down the desk's users
#: say it once per outage themselves (the server's change-feed tail, its ticker).
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)

_INSERT = re.compile(r"\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)
_LIKE = re.compile(r"\bLIKE\b")


def sidecar_base(url: str) -> Path:
    """The local path the desk's secrets (`.keys`) and rules (`.rules.toml`) hang off:
    `$GLADDESK_STATE_DIR/postgres/<host>-<port>-<database>` (default state folder
    `~/.local/state/gladdesk`), the same for every URL naming that database."""
    parts = urlsplit(url)
    host = parts.hostname or "local"
    database = unquote(parts.path.lstrip("/")) or parts.username or "postgres"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{host}-{parts.port or 5432}-{database}")
    state = os.environ.get("GLADDESK_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "gladdesk"
    )
    return Path(state) / "postgres" / name


# -- SQL and rows ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, bool]:
    """The store's SQL for psycopg: `?` -> `%s` and `:name` -> `%(name)s` (outside quotes),
    `%` doubled, LIKE ->
    ILIKE (SQLite's LIKE ignores ASCII case); whether to append `RETURNING id`."""
    out: list[str] = []
    quoted = False
    name: list[str] | None = None  # a `:name` placeholder being read
    for i, ch in enumerate(sql):
        if name is not None:
            if ch.isalnum() or ch == "_":
                name.append(ch)
                continue
            out.append(f"%({''.join(name)})s")
            name = None
        if ch == "'":
            quoted = not quoted
            out.append(ch)
        elif ch == "%":
            out.append("%%")
        elif quoted:
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == ":" and _starts_name(sql, i):
            name = []
        else:
            out.append(ch)
    if name is not None:
        out.append(f"%({''.join(name)})s")
    text = _LIKE.sub("ILIKE", "".join(out))
    match = _INSERT.match(text)
    returning = (
        match is not None
        and match.group(1).lower() in ID_TABLES
        and "RETURNING" not in text.upper()
    )
    if returning:
        text += " RETURNING id"
    return text, returning


def _starts_name(sql: str, i: int) -> bool:
    """Whether the `:` at `i` begins a named placeholder (not a `::` cast)."""
    after = sql[i + 1 : i + 2]
    return (after.isalpha() or after == "_") and sql[i - 1 : i] != ":"


class PgRow(tuple):  # type: ignore[type-arg]
    """A result row: by position like a tuple, or by column name like `sqlite3.Row`."""

    _index: dict[str, int] = {}
    _names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key])
            except KeyError:
                raise IndexError(f"No item with that key: {key}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@functools.lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[PgRow]:
    index = {name: i for i, name in enumerate(names)}
    return type("PgRow", (PgRow,), {"_index": index, "_names": names})


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    # The result's field names straight from libpq (`cursor.description` builds an object
    # per column per statement: a tenth of a millisecond on every query).
    result = cursor.pgresult
    if result is None or not result.nfields:
        return PgRow
    names = tuple((result.fname(i) or b"").decode() for i in range(result.nfields))
    return _row_class(names)


class _NumericLoader(Loader):
    """`sum()` and `avg()` answer `numeric`: a Python int when whole, else a float (what
    SQLite gives), never a Decimal."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


class _BoolDumper(IntDumper):
    """Python booleans go in as 0 and 1: flags are integer columns, as on SQLite."""


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_loader("numeric", _NumericLoader)
    conn.adapters.register_dumper(bool, _BoolDumper)


class PgCursor:
    """What a store function reads of an executed statement."""

    __slots__ = ("_cursor", "lastrowid")

    def __init__(self, cursor: Any, lastrowid: int | None) -> None:
        self._cursor = cursor
        self.lastrowid = lastrowid

    def fetchone(self) -> Any:
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)


class PgTx:
    """An open connection the store's functions run their SQL on (`Tx` on PostgreSQL)."""

    __slots__ = ("raw",)

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> PgCursor:
        text, returning = translate(sql)
        try:
            cursor = self.raw.execute(text, params)  # type: ignore[arg-type]
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"the desk's database is unreachable: {exc}") from exc
        except psycopg.DataError as exc:
            if "NUL" in str(exc):  # SQLite keeps NUL in text; PostgreSQL cannot
                raise DeskError("text cannot contain NUL characters") from None
            raise
        lastrowid = None
        if returning:
            row = cursor.fetchone()
            lastrowid = int(row[0]) if row else None
        return PgCursor(cursor, lastrowid)

    def executemany(self, sql: str, rows: Any) -> None:
        text, returning = translate(sql)
        if returning:
            text = text[: -len(" RETURNING id")]
        with self.raw.cursor() as cursor:
            cursor.executemany(text, rows)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE


# -- the desk --------------------------------------------------------------------------------


class _Local(threading.local):
    """This thread's open transaction: its connection, nesting, the change-feed rows it will
    append at commit, and whether it holds the feed's lock."""

    tx: PgTx | None = None
    depth = 0
    locked = False
    routing = False
    touched: set[int]
    pending: list[tuple[Any, ...]]

    def __init__(self) -> None:
        self.touched = set()
        self.pending = []


class _PgTransaction:
    __slots__ = ("desk",)

    def __init__(self, desk: PgDesk) -> None:
        self.desk = desk

    def __enter__(self) -> Any:
        desk = self.desk
        local = desk._local
        if local.depth:
            local.depth += 1
            assert local.tx is not None
            return local.tx
        desk._write_lock.acquire()
        try:
            raw = desk._getconn()
            try:
                raw.execute("BEGIN")
            except psycopg.Error as exc:
                desk._putconn(raw)
                raise StoreUnavailable(f"the desk's database is unreachable: {exc}") from exc
        except BaseException:
            desk._write_lock.release()
            raise
        local.tx, local.depth, local.locked, local.routing = PgTx(raw), 1, False, False
        local.touched.clear()
        local.pending.clear()
        return local.tx

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        desk = self.desk
        local = desk._local
        local.depth -= 1
        if local.depth:
            return
        tx = local.tx
        assert tx is not None
        try:
            if exc_type is None:
                self._commit(tx)
            else:
                # a broken connection rolled back already; the pool drops it
                with contextlib.suppress(psycopg.Error):
                    tx.raw.execute("ROLLBACK")
        finally:
            local.tx = None
            local.pending.clear()
            desk._putconn(tx.raw)
            desk._write_lock.release()

    def _commit(self, tx: PgTx) -> None:
        """Append the pending feed rows, then commit; on any failure roll back and raise."""
        try:
            if self.desk._local.pending:
                self.desk._flush()
            tx.raw.execute("COMMIT")
        except BaseException as error:
            with contextlib.suppress(psycopg.Error):
                tx.raw.execute("ROLLBACK")
            if isinstance(error, psycopg.OperationalError):
                raise StoreUnavailable(f"the desk's database is unreachable: {error}") from error
            raise


class PgDesk(Desk):
    """A desk in a PostgreSQL database. Thread-safe; several processes may share it."""

    dialect = "postgresql"

    def __init__(self, url: str, pool: psycopg_pool.ConnectionPool[Any], clock: Clock) -> None:
        self.url = url
        self.location = url
        self.path = sidecar_base(url)
        self.clock = clock
        self.clock_recorded = False
        self._pool = pool
        self._local = _Local()
        self._write_lock = threading.RLock()
        self._version = 0
        self._version_lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._listener: threading.Thread | None = None
        self._closed = threading.Event()

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open_url(cls, url: str, *, clock: Clock | None = None, create: bool = True) -> PgDesk:
        """Open the desk in the database `url` names, creating its schema when `create` (the
        database itself must exist) or migrating it."""
        from core.store.schema_pg import SCHEMA_VERSION, migrate, schema_version, table_count

        shown = redact_url(url)
        pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_MAX,
            kwargs={
                "autocommit": True,
                "prepare_threshold": 2,
                "row_factory": _row_factory,
            },
            configure=_configure,
            timeout=CONNECT_TIMEOUT_S,
            reconnect_timeout=RECONNECT_GIVE_UP_S,
            open=False,
            name="gladdesk",
        )
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except psycopg_pool.PoolTimeout:
            pool.close()
            raise StoreError(f"{shown}: cannot connect to the PostgreSQL server") from None
        try:
            with pool.connection() as raw:
                version = schema_version(raw)
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"{shown}: schema version {version} is newer than this gladdesk supports"
                        f" ({SCHEMA_VERSION}); upgrade gladdesk to open it"
                    )
                if version == 0 and table_count(raw):
                    raise StoreError(
                        f"{shown}: this database holds other tables, not a desk; a desk needs"
                        " a database of its own (createdb NAME)"
                    )
                if version == 0 and not create:
                    raise NoDesk(
                        f"{shown}: no desk in this database (create one: gladdesk --db URL init)"
                    )
                migrate(raw)
        except StoreError:
            pool.close()
            raise
        except psycopg.Error as exc:
            pool.close()
            raise StoreError(f"{shown}: cannot open as a desk: {exc}") from None
        desk = cls(url, pool, clock or SystemClock())
        try:
            desk.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            desk.close()
            raise StoreError(
                f"{desk.path.parent}: cannot create the folder of the desk's keys and rules:"
                f" {exc.strerror}"
            ) from None
        if clock is None:
            try:
                desk.clock = desk._recorded_clock()
            except StoreError:
                desk.close()
                raise
            desk.clock_recorded = True
        return desk

    def _recorded_clock(self) -> Clock:
        with self._pool.connection() as raw:
            return recorded_clock(self.location, PgTx(raw))

    def _getconn(self) -> psycopg.Connection[Any]:
        try:
            return self._pool.getconn()
        except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as exc:
            raise StoreUnavailable(
                f"the desk's database is unreachable ({redact_url(self.url)})"
            ) from exc

    def _putconn(self, raw: psycopg.Connection[Any]) -> None:
        self._pool.putconn(raw)

    def close(self) -> None:
        self._closed.set()
        self._pool.close()

    # -- transactions ----------------------------------------------------------------------

    def transaction(self) -> Any:
        return _PgTransaction(self)

    @contextmanager
    def reading(self) -> Iterator[Any]:
        local = self._local
        if local.tx is not None:
            yield local.tx
            return
        raw = self._getconn()
        try:
            try:
                raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"the desk's database is unreachable: {exc}") from exc
            tx = PgTx(raw)
            try:
                yield tx
            finally:
                with contextlib.suppress(psycopg.Error):
                    raw.execute("COMMIT")
        finally:
            self._putconn(raw)

    def query(self, sql: str, params: tuple | dict = ()) -> list[Any]:  # type: ignore[type-arg]
        with self.reading() as tx:
            return tx.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple | dict = ()) -> Any:  # type: ignore[type-arg]
        with self.reading() as tx:
            return tx.execute(sql, params).fetchone()

    @property
    def conn(self) -> Any:  # type: ignore[override]
        """The open transaction of this thread (store code that writes through `desk.conn`)."""
        if self._local.tx is None:
            raise StoreError("desk.conn outside a transaction")
        return self._local.tx

    # -- change feed -----------------------------------------------------------------------

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
        """Append to the change feed at this transaction's commit (see `_flush`)."""
        local = self._local
        assert local.depth and local.tx is not None, "emit() outside a transaction"
        if conversation_id is not None:
            local.touched.add(conversation_id)
        local.pending.append(
            (
                kind,
                self.clock.now_ms() if at is None else at,
                conversation_id,
                item_id,
                session_id,
                profile_id,
                agent_id,
            )
        )

    def emit_marker(
        self,
        kind: str,
        *,
        at: int | None = None,
        session_id: str | None = None,
        profile_id: int | None = None,
    ) -> int:
        """Append to the change feed now and return the row's id (what a session's horizon
        is set to): the feed's lock is then held from here to the commit."""
        self.emit(kind, at=at, session_id=session_id, profile_id=profile_id)
        return self._flush()

    def _flush(self) -> int:
        """Insert the transaction's pending feed rows, in the order emitted, under the feed's
        lock (taken once per transaction, kept to its commit: ids commit in order), and notify
        the tails; the last row's id."""
        local = self._local
        tx = local.tx
        assert tx is not None
        if not local.locked:
            tx.execute("SELECT pg_advisory_xact_lock(?), pg_notify(?, '')", (FEED_LOCK, CHANNEL))
            local.locked = True
        rows, local.pending = local.pending, []
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(rows))
        cursor = tx.execute(
            "INSERT INTO events (kind, at, conversation_id, item_id, session_id, profile_id,"
            f" agent_id) VALUES {values} RETURNING id",
            [value for row in rows for value in row],
        )
        return int(cursor.fetchall()[-1][0])

    def touch(self, conversation_id: int) -> None:
        if conversation_id not in self._local.touched:
            self.emit("conversation.updated", conversation_id=conversation_id)

    def events_after(self, last_id: int, limit: int = 1000) -> list[Event]:
        rows = self.query(
            "SELECT id, kind, at, conversation_id, item_id, session_id, profile_id, agent_id"
            " FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (last_id, limit),
        )
        return [Event(*row) for row in rows]

    def data_version(self) -> int:
        """How many change notifications this desk has heard (and reconnections of its
        listener, after which the feed must be read again): moves when anyone commits."""
        self._ensure_listener()
        return self._version

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from the listener's thread) on every change notification."""
        self._listeners.append(callback)
        self._ensure_listener()

    pushes_changes = True

    def _ensure_listener(self) -> None:
        if self._listener is None:
            with self._version_lock:
                if self._listener is None:
                    self._listener = threading.Thread(
                        target=self._listen, name="gladdesk-listen", daemon=True
                    )
                    self._listener.start()

    def _bump(self) -> None:
        self._version += 1
        for callback in list(self._listeners):
            with contextlib.suppress(Exception):  # a listener's failure is its own
                callback()

    def _listen(self) -> None:
        """LISTEN on the feed's channel until closed, reconnecting after an outage."""
        while not self._closed.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._bump()  # whatever happened while nobody listened: read the feed
                    while not self._closed.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._bump()
            except psycopg.Error:
                self._closed.wait(0.5)

    def last_event_id(self) -> int:
        row = self.query_one("SELECT coalesce(max(id), 0) FROM events")
        return int(row[0]) if row else 0

    def compact(self) -> None:
        """VACUUM the desk's tables (outside a transaction)."""
        raw = self._getconn()
        try:
            raw.execute("VACUUM")
        finally:
            self._putconn(raw)

    def checkpoint_apart(self) -> None:
        """PostgreSQL checkpoints by itself."""

    def checkpoint(self) -> tuple[int, int]:
        return 0, 0

    @property
    def shown(self) -> str:
        return redact_url(self.url)

    def insert_many(self, conn: Any, table: str, names: list[str], rows: list[Any]) -> None:
        """COPY the rows in (the fastest way in; identity columns take the given ids)."""
        statement = f"COPY {table} ({', '.join(names)}) FROM STDIN"
        with conn.raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def lock_routing(self) -> None:
        """Routing decisions of every process take turns (an advisory lock to the commit):
        two servers never hand one chat out twice nor push an agent past capacity."""
        local = self._local
        assert local.tx is not None, "lock_routing() outside a transaction"
        if not local.routing:
            local.tx.execute("SELECT pg_advisory_xact_lock(?)", (ROUTING_LOCK,))
            local.routing = True

    def sync_sequences(self) -> None:
        """After rows were copied in with their ids: identities continue after the largest."""
        with self.transaction() as tx:
            for table in sorted(ID_TABLES):
                tx.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                )
