"""Timeline items: the messages and events of a conversation, each with its change-feed row."""

from __future__ import annotations

from core.models import TimelineItem
from core.store.desk import ALL_ROWS, Desk, Row, Tx


def insert_item(
    desk: Desk,
    conn: Tx,
    conversation_id: int,
    *,
    type_: str,
    sender: str,
    body: str,
    at: int,
    event: str | None = None,
    trusted: bool | None = None,
    agent_id: int | None = None,
    session_id: str | None = None,
) -> int:
    """Append an item and its `item.created` change-feed row; returns the item's id.

    The caller counts it on the conversation (`conversations.update`)."""
    cursor = conn.execute(
        "INSERT INTO items (conversation_id, type, sender, event, body, at, trusted, agent_id,"
        " session_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            conversation_id,
            type_,
            sender,
            event,
            body,
            at,
            None if trusted is None else int(trusted),
            agent_id,
            session_id,
        ),
    )
    item_id = int(cursor.lastrowid or 0)
    desk.emit(
        "item.created",
        at=at,
        conversation_id=conversation_id,
        item_id=item_id,
        session_id=session_id,
        agent_id=agent_id,
    )
    return item_id


def first_customer_message(conn: Tx, conversation_id: int) -> str:
    """The customer's first message in a conversation ('' when there is none)."""
    row = conn.execute(
        "SELECT body FROM items WHERE conversation_id = ? AND sender = 'customer'"
        " ORDER BY id LIMIT 1",
        (conversation_id,),
    ).fetchone()
    return str(row[0]) if row else ""


def timeline_rows(conn: Tx, conversation_id: int, *, after_id: int, limit: int) -> list[Row]:
    """`TimelineItem.COLUMNS` of a conversation's items after `after_id` (limit -1: all)."""
    return conn.execute(
        f"SELECT {TimelineItem.COLUMNS} FROM items i"
        " LEFT JOIN agents a ON a.id = i.agent_id"
        " WHERE i.conversation_id = ? AND i.id > ? ORDER BY i.id LIMIT ?",
        (conversation_id, after_id, limit if limit >= 0 else ALL_ROWS),
    ).fetchall()


def export_rows(conn: Tx, conversation_id: int) -> list[Row]:
    """(type, sender, event, body, at, trusted) of every item, for exports."""
    return conn.execute(
        "SELECT type, sender, event, body, at, trusted FROM items"
        " WHERE conversation_id = ? ORDER BY id",
        (conversation_id,),
    ).fetchall()
