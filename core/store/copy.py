"""Every row of one desk into another, whatever their backends (`gladdesk db copy`).

Tables go in an order their references allow, each with its ids; only the columns both
desks have (SQLite's search column and PostgreSQL's row numbers are each the target's own).
Agents start with no load and the target's trigger counts it as their conversations arrive,
so the counts come out right by the target's own rule. One transaction on the target: a
failure leaves it empty. On PostgreSQL rows go in with COPY, then identities move past the
copied ids (`sync_sequences`).
"""

from __future__ import annotations

from collections.abc import Iterator
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
#: Columns a desk keeps by itself: never copied.
DERIVED = {"agents": {"open_conversations": 0}}


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


def copy_rows(source: Desk, target: Desk) -> dict[str, int]:
    """Copy every row of `source` into the empty desk `target`; rows per table."""
    if not is_empty(target):
        raise TargetNotEmpty(f"{target.shown}: not empty; copy into a new desk only")
    counts: dict[str, int] = {}
    with target.transaction() as conn:
        for table in TABLES:
            kept = set(columns(target, table))
            names = [c for c in columns(source, table) if c in kept]
            derived = DERIVED.get(table, {})
            counts[table] = 0
            for batch in _rows(source, table, names):
                if derived:
                    index = {name: i for i, name in enumerate(names)}
                    batch = [tuple(derived.get(n, row[index[n]]) for n in names) for row in batch]
                target.insert_many(conn, table, names, batch)
                counts[table] += len(batch)
    target.sync_sequences()
    return counts
