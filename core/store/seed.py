"""Rows written as given, ids and times included: how the demo desk builder (`sim/demo_desk.py`)
fills a new desk with its fixture customers and conversations (its apps, inboxes and agents go
through `core.setup.apply_config`, as any desk's do).

Call these inside the caller's `Desk.transaction()`. Nothing else runs: no change-feed rows,
rules or routing. The caller vouches for the rows (the builder checks trust itself); the
schema's constraints still apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

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
