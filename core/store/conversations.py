"""Conversations: their rows, their queue position, tags, and who may use them."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from core.store.desk import Desk, Row, Tx, queue_key

#: The columns a new conversation is written with, in order (`insert`).
NEW_CONVERSATION_COLUMNS = (
    "profile_id",
    "app_id",
    "inbox_id",
    "assignee_id",
    "status",
    "created_at",
    "updated_at",
    "routed_at",
    "hold_until",
    "waiting_since",
    "queue_key",
    "identity_state",
    "identity_source",
    "authenticated_at",
    "trust_path",
    "last_customer_trusted",
    "last_preview",
    "started_session_id",
    "claimed_name",
    "trusted_until",
    "opened_from",
)


def get(conn: Tx, conversation_id: int) -> Row | None:
    row: Row | None = conn.execute(
        "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
    ).fetchone()
    return row


def with_access(conn: Tx, session_id: str, conversation_id: int) -> Row | None:
    """A conversation with a session's access to it (`via`: started, trusted or None)."""
    row: Row | None = conn.execute(
        "SELECT c.*, a.via FROM conversations c LEFT JOIN session_access a"
        " ON a.conversation_id = c.id AND a.session_id = ? WHERE c.id = ?",
        (session_id, conversation_id),
    ).fetchone()
    return row


def unassigned_opened_from(conn: Tx, app_id: str, opened_from: str, *, up_to: int) -> int:
    """How many of the app's open conversations opened from this address wait for an agent,
    counted up to `up_to` (the partial index `conversations_unassigned_from` holds only them)."""
    row = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM conversations"
        " WHERE opened_from = ? AND app_id = ? AND opened_from IS NOT NULL"
        " AND assignee_id IS NULL AND status != 'CLOSED' LIMIT ?) AS waiting",
        (opened_from, app_id, up_to),
    ).fetchone()
    return int(row[0])


def insert(conn: Tx, values: Mapping[str, Any]) -> int:
    """A new conversation with every column of `NEW_CONVERSATION_COLUMNS`; returns its id."""
    columns = ", ".join(NEW_CONVERSATION_COLUMNS)
    marks = ", ".join("?" for _ in NEW_CONVERSATION_COLUMNS)
    cursor = conn.execute(
        f"INSERT INTO conversations ({columns}) VALUES ({marks})",
        tuple(values[c] for c in NEW_CONVERSATION_COLUMNS),
    )
    return int(cursor.lastrowid or 0)


def update(
    desk: Desk,
    conn: Tx,
    conversation_id: int,
    updates: Mapping[str, Any],
    *,
    now: int,
    items_added: int = 0,
    requeue: bool = True,
) -> None:
    """One UPDATE: the given columns, activity time, item count and queue position; then the
    conversation's change-feed row.

    `requeue=False` when the queue position cannot change (a customer already waiting).
    """
    assignments = [f"{column} = ?" for column in updates]
    params: list[Any] = list(updates.values())
    if items_added:
        assignments.append("item_count = item_count + ?")
        params.append(items_added)
    # Queue order follows the new waiting_since (SQLite's SET sees the old row).
    if "waiting_since" in updates:
        assignments.append("queue_key = ?")
        params.append(queue_key(updates["waiting_since"], now))
    elif requeue:
        assignments.append(
            "queue_key = CASE WHEN waiting_since IS NULL THEN ? ELSE waiting_since END"
        )
        params.append(queue_key(None, now))
    conn.execute(
        f"UPDATE conversations SET {', '.join(assignments)}, updated_at = ? WHERE id = ?",
        (*params, now, conversation_id),
    )
    desk.touch(conversation_id)


def count_first_items(conn: Tx, conversation_id: int, count: int, last_customer_item: int) -> None:
    """A new conversation's first items, counted once they are all written."""
    conn.execute(
        "UPDATE conversations SET item_count = item_count + ?, last_customer_item_id = ?"
        " WHERE id = ?",
        (count, last_customer_item, conversation_id),
    )


def adopt(conn: Tx, session_id: str, from_profile: int, to_profile: int) -> None:
    """An anonymous session's own conversations move to the profile it identified as."""
    conn.execute(
        "UPDATE conversations SET profile_id = ? WHERE profile_id = ? AND started_session_id = ?",
        (to_profile, from_profile, session_id),
    )


def latest_open(conn: Tx, profile_id: int) -> Row | None:
    """(id, assignee_id) of the profile's newest open conversation."""
    row: Row | None = conn.execute(
        "SELECT id, assignee_id FROM conversations WHERE profile_id = ? AND status != 'CLOSED'"
        " ORDER BY id DESC LIMIT 1",
        (profile_id,),
    ).fetchone()
    return row


def latest_open_trusted(conn: Tx, profile_id: int, app_id: str) -> Row | None:
    """The profile's newest open conversation on the app in which trust was proven."""
    row: Row | None = conn.execute(
        "SELECT * FROM conversations WHERE profile_id = ? AND status != 'CLOSED'"
        " AND app_id = ? AND authenticated_at IS NOT NULL ORDER BY id DESC LIMIT 1",
        (profile_id, app_id),
    ).fetchone()
    return row


def any_open(conn: Tx, profile_id: int) -> int | None:
    """The id of some open conversation of the profile."""
    row = conn.execute(
        "SELECT id FROM conversations WHERE profile_id = ? AND status != 'CLOSED'", (profile_id,)
    ).fetchone()
    return None if row is None else int(row[0])


def started_before(conn: Tx, profile_id: int, before: int) -> bool:
    """Whether the profile has a conversation that started before `before` (ms)."""
    row = conn.execute(
        "SELECT 1 FROM conversations WHERE profile_id = ? AND created_at < ? LIMIT 1",
        (profile_id, before),
    ).fetchone()
    return row is not None


def assignee(conn: Tx, conversation_id: int) -> int | None:
    row = conn.execute(
        "SELECT assignee_id FROM conversations WHERE id = ?", (conversation_id,)
    ).fetchone()
    return row[0] if row else None


def app_id(conn: Tx, conversation_id: int) -> str | None:
    row = conn.execute(
        "SELECT app_id FROM conversations WHERE id = ?", (conversation_id,)
    ).fetchone()
    return None if row is None else row[0]


def inbox_name(conn: Tx, conversation_id: int) -> str:
    row = conn.execute(
        "SELECT i.name FROM conversations c JOIN inboxes i ON i.id = c.inbox_id WHERE c.id = ?",
        (conversation_id,),
    ).fetchone()
    return str(row[0])


def queued(conn: Tx, limit: int) -> list[tuple[int, int]]:
    """(id, inbox id) of routed, unassigned open conversations, longest-waiting first."""
    rows = conn.execute(
        "SELECT id, inbox_id FROM conversations WHERE assignee_id IS NULL AND status != 'CLOSED'"
        " AND routed_at IS NOT NULL ORDER BY queue_key, id LIMIT ?",
        (limit,),
    ).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def inbox_of(conn: Tx, conversation_id: int) -> int:
    row = conn.execute("SELECT inbox_id FROM conversations WHERE id = ?", (conversation_id,))
    return int(row.fetchone()[0])


def holds_due(conn: Tx, now: int) -> list[int]:
    """Open conversations held for login whose hold has run out."""
    rows = conn.execute(
        "SELECT id FROM conversations WHERE routed_at IS NULL AND hold_until <= ?"
        " AND status != 'CLOSED'",
        (now,),
    ).fetchall()
    return [int(r[0]) for r in rows]


def add_tag(desk: Desk, conn: Tx, conversation_id: int, tag: str) -> None:
    conn.execute(
        "INSERT INTO conversation_tags (conversation_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (conversation_id, tag),
    )
    desk.touch(conversation_id)


def tags(conn: Tx, conversation_id: int) -> tuple[str, ...]:
    return tuple(
        r[0]
        for r in conn.execute(
            "SELECT tag FROM conversation_tags WHERE conversation_id = ? ORDER BY tag",
            (conversation_id,),
        )
    )


def past(conn: Tx, profile_id: int, exclude: int | None) -> list[Row]:
    """(id, status, inbox, created_at, trust_path, trusted items, customer messages) of a
    profile's conversations, newest first."""
    return conn.execute(
        "SELECT c.id, c.status, i.name, c.created_at, c.trust_path,"
        " (SELECT count(*) FROM items t WHERE t.conversation_id = c.id AND t.trusted = 1),"
        " (SELECT count(*) FROM items t WHERE t.conversation_id = c.id"
        "   AND t.sender = 'customer' AND t.type = 'message')"
        " FROM conversations c JOIN inboxes i ON i.id = c.inbox_id"
        " WHERE c.profile_id = ? AND c.id != ? ORDER BY c.created_at DESC, c.id DESC",
        (profile_id, -1 if exclude is None else exclude),
    ).fetchall()


def all_rows(conn: Tx, profile_id: int | None = None) -> list[Row]:
    """Every conversation (of one profile, when given), by id."""
    if profile_id is None:
        return conn.execute("SELECT * FROM conversations ORDER BY id").fetchall()
    return conn.execute(
        "SELECT * FROM conversations WHERE profile_id = ? ORDER BY id", (profile_id,)
    ).fetchall()


def placements(conn: Tx, conversation_ids: Collection[int]) -> dict[int, tuple[int | None, int]]:
    """conversation id -> (assignee id, inbox id) of those of `conversation_ids` that exist:
    what the agent API's visibility rule looks at."""
    ids = sorted(set(conversation_ids))
    found: dict[int, tuple[int | None, int]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = conn.execute(
            "SELECT id, assignee_id, inbox_id FROM conversations"
            f" WHERE id IN ({', '.join('?' * len(chunk))})",
            chunk,
        )
        for conversation_id, assignee_id, inbox_id in rows:
            found[int(conversation_id)] = (
                None if assignee_id is None else int(assignee_id),
                int(inbox_id),
            )
    return found


def profile_placements(conn: Tx, profile_id: int) -> dict[int, tuple[int | None, int]]:
    """The same for every conversation of a profile (the `(profile_id, status)` index)."""
    rows = conn.execute(
        "SELECT id, assignee_id, inbox_id FROM conversations WHERE profile_id = ?", (profile_id,)
    )
    return {int(r[0]): (None if r[1] is None else int(r[1]), int(r[2])) for r in rows}
