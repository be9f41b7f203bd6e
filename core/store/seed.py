"""Rows written as given, ids and times included: how the demo desk builder (`sim/demo_desk.py`)
fills a new desk from its fixtures.

Call these inside the caller's `Desk.transaction()`. Nothing else runs: no change-feed rows,
rules or routing. The caller vouches for the rows (the builder checks trust itself); the
schema's constraints still apply.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from core.budgets import BUDGET_DEFAULTS
from core.store.desk import Desk, Tx

#: The columns of a seeded conversation, every one required (`add_conversation`).
CONVERSATION_COLUMNS = (
    "id",
    "profile_id",
    "app_id",
    "inbox_id",
    "assignee_id",
    "status",
    "created_at",
    "updated_at",
    "routed_at",
    "closed_at",
    "waiting_since",
    "queue_key",
    "identity_state",
    "identity_source",
    "authenticated_at",
    "trust_path",
    "last_customer_item_id",
    "last_customer_trusted",
    "last_preview",
    "item_count",
    "trusted_until",
)
#: The order of a seeded item's values (`add_items`).
ITEM_COLUMNS = (
    "id",
    "conversation_id",
    "type",
    "sender",
    "event",
    "body",
    "at",
    "trusted",
    "agent_id",
)


def add_app(
    desk: Desk,
    app_id: str,
    *,
    store_name: str,
    login_url: str,
    signup_url: str,
    first_message: str,
    greeting: str,
    onboarding_enabled: bool,
    onboarding_identity: str,
    trust_window_s: int,
    allowed_origins: Sequence[str],
    budgets: Mapping[str, int] | None = None,
) -> None:
    """An app; `budgets` are its flood budgets (`core.budgets.check_budgets`), the schema's
    defaults for those left out."""
    budgets = dict(budgets or {})
    unknown = sorted(set(budgets) - set(BUDGET_DEFAULTS))
    if unknown:
        raise ValueError(f"app {app_id!r}: unknown budget settings {unknown}")
    columns = (
        "app_id, store_name, login_url, signup_url, first_message, greeting,"
        " onboarding_enabled, onboarding_identity, trust_window_s, allowed_origins"
    )
    columns += "".join(f", {name}" for name in budgets)
    values = (
        app_id,
        store_name,
        login_url,
        signup_url,
        first_message,
        greeting,
        int(onboarding_enabled),
        onboarding_identity,
        trust_window_s,
        json.dumps(allowed_origins),
        *budgets.values(),
    )
    desk.conn.execute(
        f"INSERT INTO apps ({columns}) VALUES ({', '.join('?' * len(values))})", values
    )


def add_inbox(desk: Desk, inbox_id: int, name: str) -> None:
    desk.conn.execute("INSERT INTO inboxes (id, name) VALUES (?, ?)", (inbox_id, name))


def add_setting(desk: Desk, key: str, value: str) -> None:
    """A new setting, without the `settings.changed` row `Desk.set_setting` writes."""
    desk.conn.execute("INSERT INTO settings (key, value) VALUES (?, ?)", (key, value))


def add_agent(desk: Desk, agent_id: int, handle: str, name: str, capacity: int) -> None:
    desk.conn.execute(
        "INSERT INTO agents (id, handle, name, capacity) VALUES (?, ?, ?, ?)",
        (agent_id, handle, name, capacity),
    )


def add_profile(
    desk: Desk,
    profile_id: int,
    name: str,
    created_at: int,
    *,
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
) -> None:
    """A profile and its contacts, already normalized (`core.contacts`)."""
    desk.conn.execute(
        "INSERT INTO profiles (id, name, created_at) VALUES (?, ?, ?)",
        (profile_id, name, created_at),
    )
    for email in emails:
        desk.conn.execute(
            "INSERT INTO profile_emails (email, profile_id) VALUES (?, ?)", (email, profile_id)
        )
    for phone in phones:
        desk.conn.execute(
            "INSERT INTO profile_phones (phone, profile_id) VALUES (?, ?)", (phone, profile_id)
        )


def next_item_id(desk: Desk) -> int:
    """The id the next timeline item gets when ids run on from the largest one."""
    return int(desk.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()[0])


def add_conversation(desk: Desk, row: Mapping[str, object]) -> None:
    """One conversation row: `row` has exactly the `CONVERSATION_COLUMNS`."""
    if set(row) != set(CONVERSATION_COLUMNS):
        missing = sorted(set(CONVERSATION_COLUMNS) - set(row))
        extra = sorted(set(row) - set(CONVERSATION_COLUMNS))
        raise ValueError(f"conversation row: missing {missing}, unknown {extra}")
    desk.conn.execute(
        f"INSERT INTO conversations ({', '.join(CONVERSATION_COLUMNS)})"
        f" VALUES ({', '.join('?' * len(CONVERSATION_COLUMNS))})",
        tuple(row[column] for column in CONVERSATION_COLUMNS),
    )


def add_items(desk: Desk, rows: Iterable[Sequence[object]]) -> None:
    """Timeline items, each one's values in `ITEM_COLUMNS` order."""
    desk.conn.executemany(
        f"INSERT INTO items ({', '.join(ITEM_COLUMNS)})"
        f" VALUES ({', '.join('?' * len(ITEM_COLUMNS))})",
        rows,
    )


def point_app_links(conn: Tx, app_id: str, *, login_url: str, signup_url: str) -> None:
    """Where the app's login and signup links lead (the demo portal, as served now)."""
    conn.execute(
        "UPDATE apps SET login_url = ?, signup_url = ? WHERE app_id = ?",
        (login_url, signup_url, app_id),
    )
