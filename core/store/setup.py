"""The desk's configuration as the admin commands and config files read and write it: apps,
agents (with the inboxes they work) and inboxes.

The caller checks every value first (`core.setup`); these write them as given, in the
caller's transaction. Column names come from the tuples below, never from input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from core.budgets import BUDGET_DEFAULTS
from core.store.desk import Row, Tx

#: The app columns a configuration sets, besides `app_id`.
APP_COLUMNS = (
    "store_name",
    "login_url",
    "signup_url",
    "first_message",
    "greeting",
    "greeting_new",
    "onboarding_enabled",
    "onboarding_identity",
    "trust_window_s",
    "allowed_origins",
    *BUDGET_DEFAULTS,
)
#: The agent columns a configuration sets, besides `handle`.
AGENT_COLUMNS = ("name", "capacity", "disabled", "available", "role")


def _checked(values: Mapping[str, object], allowed: tuple[str, ...]) -> list[str]:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"unknown columns {unknown}")
    return list(values)


def _stored(column: str, value: object) -> object:
    if column == "allowed_origins":
        return json.dumps(list(value))  # type: ignore[call-overload]
    if isinstance(value, bool):
        return int(value)
    return value


# -- apps -------------------------------------------------------------------------------------


def apps(conn: Tx) -> list[Row]:
    """Every app row, in the order they were added."""
    return conn.execute("SELECT * FROM apps ORDER BY rowid").fetchall()


def insert_app(conn: Tx, app_id: str, values: Mapping[str, object]) -> None:
    columns = _checked(values, APP_COLUMNS)
    conn.execute(
        f"INSERT INTO apps (app_id, {', '.join(columns)})"
        f" VALUES ({', '.join('?' * (len(columns) + 1))})",
        (app_id, *(_stored(c, values[c]) for c in columns)),
    )


def update_app(conn: Tx, app_id: str, values: Mapping[str, object]) -> None:
    columns = _checked(values, APP_COLUMNS)
    if columns:
        conn.execute(
            f"UPDATE apps SET {', '.join(f'{c} = ?' for c in columns)} WHERE app_id = ?",
            (*(_stored(c, values[c]) for c in columns), app_id),
        )


# -- agents -----------------------------------------------------------------------------------


def agents(conn: Tx) -> list[Row]:
    """Every agent with their load, in the order they were added."""
    return conn.execute(
        "SELECT id, handle, name, capacity, available, disabled, open_conversations, role,"
        " CASE WHEN token_hash IS NULL THEN 0 ELSE 1 END AS has_token"
        " FROM agents ORDER BY id"
    ).fetchall()


def agent_inboxes(conn: Tx) -> dict[int, list[str]]:
    """agent id -> the names of the inboxes they work (in inbox order); agents working every
    inbox are not in it."""
    found: dict[int, list[str]] = {}
    rows = conn.execute(
        "SELECT m.agent_id, i.name FROM agent_inboxes m JOIN inboxes i ON i.id = m.inbox_id"
        " ORDER BY m.agent_id, i.id"
    )
    for agent_id, name in rows:
        found.setdefault(int(agent_id), []).append(str(name))
    return found


def insert_agent(conn: Tx, handle: str, values: Mapping[str, object]) -> int:
    columns = _checked(values, AGENT_COLUMNS)
    cursor = conn.execute(
        f"INSERT INTO agents (handle, {', '.join(columns)})"
        f" VALUES ({', '.join('?' * (len(columns) + 1))})",
        (handle, *(_stored(c, values[c]) for c in columns)),
    )
    return int(cursor.lastrowid or 0)


def update_agent(conn: Tx, agent_id: int, values: Mapping[str, object]) -> None:
    columns = _checked(values, AGENT_COLUMNS)
    if columns:
        conn.execute(
            f"UPDATE agents SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
            (*(_stored(c, values[c]) for c in columns), agent_id),
        )


def set_agent_inboxes(conn: Tx, agent_id: int, inbox_ids: Iterable[int]) -> None:
    """The inboxes the agent works, replacing what was there (none: every inbox)."""
    conn.execute("DELETE FROM agent_inboxes WHERE agent_id = ?", (agent_id,))
    conn.executemany(
        "INSERT INTO agent_inboxes (agent_id, inbox_id) VALUES (?, ?)",
        [(agent_id, inbox_id) for inbox_id in inbox_ids],
    )


# -- inboxes ----------------------------------------------------------------------------------


def inboxes(conn: Tx) -> list[Row]:
    """(id, name, open conversations) of every inbox, in the order they were added."""
    return conn.execute(
        "SELECT i.id, i.name, (SELECT count(*) FROM conversations c"
        " WHERE c.inbox_id = i.id AND c.status != 'CLOSED') AS open_conversations"
        " FROM inboxes i ORDER BY i.id"
    ).fetchall()


def insert_inbox(conn: Tx, name: str) -> int:
    cursor = conn.execute("INSERT INTO inboxes (name) VALUES (?)", (name,))
    return int(cursor.lastrowid or 0)


# -- the desk ---------------------------------------------------------------------------------


def is_blank(conn: Tx) -> bool:
    """Whether the desk has no app, inbox, agent, customer or conversation yet."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM apps) OR EXISTS (SELECT 1 FROM inboxes)"
        " OR EXISTS (SELECT 1 FROM agents) OR EXISTS (SELECT 1 FROM profiles)"
        " OR EXISTS (SELECT 1 FROM conversations)"
    ).fetchone()
    return not row[0]
