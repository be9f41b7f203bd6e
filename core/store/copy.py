"""Every row of one desk into another, whatever their backends (`gladdesk db copy`).

Tables go in an order their references allow, each with its ids; only the columns both
desks have (SQLite's search column and PostgreSQL's row numbers are each the target's own).
Agents start with no load and the target's trigger counts it as their conversations arrive,
so the counts come out right by the target's own rule. One transaction on the target: a
failure leaves it empty. On PostgreSQL rows go in with COPY, then identities move past the
copied ids (`sync_sequences`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import DeskError
from core.store.desk import Desk

#: Every table of the desk, parents before children.
TABLES = (
    "settings",
    "apps",
    "inboxes",
    "agents",
    "agent_inboxes",
    "profiles",
    "profile_emails",
    "profile_phones",
    "conversations",
    "conversation_tags",
    "widget_sessions",
    "session_access",
    "items",
    "signing_keys",
    "api_users",
    "token_audit",
    "jti_uses",
    "events",
)
BATCH = 5000
#: Columns a desk keeps by itself: never copied (their defaults stand until the target's
#: triggers count them).
DERIVED = {"agents": {"open_conversations"}}


class TargetNotEmpty(DeskError):
    code = "conflict"


def columns(desk: Desk, table: str) -> list[str]:
    """The columns of `table` that hold data (not computed from others), in table order."""
    if desk.dialect == "postgresql":
        rows = desk.query(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?"
            " AND is_generated = 'NEVER' ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows if r[0] != "rowid"]
    # table_xinfo: hidden 2 and 3 are generated columns
    rows = desk.query(f"SELECT name, hidden FROM pragma_table_xinfo('{table}')")
    return [r[0] for r in rows if r[1] == 0]


def is_empty(desk: Desk) -> bool:
    """Whether the desk holds nothing at all (a new desk's schema only)."""
    return all(desk.query_one(f"SELECT 1 FROM {table} LIMIT 1") is None for table in TABLES)


def _rows(source: Desk, table: str, names: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    """The table's rows in batches: by id, a page at a time, where it has one."""
    listed = ", ".join(names)
    if "id" not in names or table == "widget_sessions":
        rows = source.query(f"SELECT {listed} FROM {table}")
        for start in range(0, len(rows), BATCH):
            yield [tuple(r) for r in rows[start : start + BATCH]]
        return
    last: Any = None
    while True:
        if last is None:
            page = source.query(f"SELECT {listed} FROM {table} ORDER BY id LIMIT ?", (BATCH,))
        else:
            page = source.query(
                f"SELECT {listed} FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (last, BATCH)
            )
        if not page:
            return
        last = page[-1][names.index("id")]
        yield [tuple(r) for r in page]


def agent_loads(desk: Desk) -> list[tuple[str, int]]:
    """(handle, open conversations) of every agent: what a copy must count alike."""
    rows = desk.query("SELECT handle, open_conversations FROM agents ORDER BY handle")
    return [(r[0], r[1]) for r in rows]


def schema_version(desk: Desk) -> int:
    """The schema version the open desk is at (both engines number them alike)."""
    if desk.dialect == "postgresql":
        row = desk.query_one("SELECT version FROM gladdesk_schema")
    else:
        row = desk.query_one("PRAGMA user_version")
    assert row is not None
    return int(row[0])


def copied_columns(source: Desk, target: Desk) -> dict[str, list[str]]:
    """The columns to copy, table by table: those both desks have, minus what the target
    derives by itself."""
    found = {}
    for table in TABLES:
        theirs = set(columns(target, table))
        found[table] = [
            c for c in columns(source, table) if c in theirs and c not in DERIVED.get(table, ())
        ]
    return found


def digests(desk: Desk, tables: dict[str, list[str]]) -> dict[str, tuple[int, int]]:
    """(rows, digest) of each of `tables` (its columns) in `desk`: equal on the source and
    the target of a copy when every row arrived unchanged. The digest adds the rows' hashes
    up, so it needs no order. Python's own hash of each row (a tuple of numbers, text and
    None; a 0/1 and a bool alike): digests compare only within one process."""
    found = {}
    for table, names in tables.items():
        count, total = 0, 0
        for batch in _rows(desk, table, names):
            total += sum(map(hash, batch))
            count += len(batch)
        found[table] = (count, total % (1 << 64))
    return found


@contextmanager
def _loading_in_bulk(target: Desk, conn: Any) -> Iterator[None]:
    """Inside the target's transaction: what costs a lookup per row set aside while the rows
    go in, then made again over whole tables at once (as pg_restore does). On PostgreSQL its
    foreign keys (a row breaking one still fails the copy when it is added back) and plain
    indexes; on SQLite its plain indexes and the triggers keeping the message search index,
    which is rebuilt from the table. Unique indexes and primary keys stay."""
    if target.dialect == "postgresql":
        with _pg_bulk(conn):
            yield
        return
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        " AND sql NOT LIKE 'CREATE UNIQUE%'"
    ).fetchall()
    searches = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%USING FTS5%'"
        ).fetchall()
    ]
    triggers = [
        (name, sql)
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
        ).fetchall()
        if any(search in sql for search in searches)
    ]
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    yield
    for _, definition in (*indexes, *triggers):
        conn.execute(definition)
    for search in searches:
        conn.execute(f"INSERT INTO {search} ({search}) VALUES ('rebuild')")


@contextmanager
def _pg_bulk(conn: Any) -> Iterator[None]:
    keys = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
    ).fetchall()
    indexes = conn.execute(
        "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index x"
        " JOIN pg_class c ON c.oid = x.indexrelid"
        " WHERE c.relnamespace = current_schema()::regnamespace"
        " AND NOT x.indisunique AND NOT x.indisprimary"
    ).fetchall()
    for table, name, _ in keys:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    yield
    for _, definition in indexes:
        conn.execute(definition)
    for table, name, definition in keys:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def copy_rows(
    source: Desk,
    target: Desk,
    tables: dict[str, list[str]],
    check: Callable[[], None] = lambda: None,
) -> dict[str, int]:
    """Copy every row of `source` into the empty desk `target`, at the same schema version,
    table by table in the order of `tables` with their columns (`copied_columns`); rows per
    table. One transaction on the target, committed only once `check()` (reading
    both desks: the target's rows, not yet committed, included) has returned: a failure or a
    refusal anywhere leaves the target as it was. Read the source inside `source.reading()`
    for a consistent copy of a desk in use."""
    if schema_version(source) != schema_version(target):
        raise DeskError(
            f"{source.shown} is at schema version {schema_version(source)} and"
            f" {target.shown} at {schema_version(target)}; open both with the same gladdesk"
        )
    if not is_empty(target):
        raise TargetNotEmpty(f"{target.shown}: not empty; copy into a new desk only")
    counts: dict[str, int] = {}
    with target.transaction() as conn:
        with _loading_in_bulk(target, conn):
            for table, names in tables.items():
                counts[table] = 0
                for batch in _rows(source, table, names):
                    target.insert_many(conn, table, names, batch)
                    counts[table] += len(batch)
        target.sync_sequences()
        check()
    return counts
