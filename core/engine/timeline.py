"""Writing a conversation's timeline: items, the conversation's counters and queue position."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.engine.directory import Directory
from core.store import Desk, Row, Tx, conversations, items


class Timeline:
    """Appends items to conversations and keeps each conversation's row in step."""

    def __init__(self, desk: Desk, directory: Directory) -> None:
        self.desk = desk
        self.directory = directory

    def insert_item(
        self, conn: Tx, conversation_id: int, *, at: int | None = None, **item: Any
    ) -> int:
        """Append a timeline item and its change-feed row; the caller updates the conversation."""
        now = self.desk.clock.now_ms() if at is None else at
        return items.insert_item(self.desk, conn, conversation_id, at=now, **item)

    def add_item(self, conn: Tx, conversation_id: int, **item: Any) -> int:
        """`insert_item` plus the conversation's item count and activity time."""
        item_id = self.insert_item(conn, conversation_id, **item)
        self.update(conn, conversation_id, {}, items_added=1)
        return item_id

    def update(
        self,
        conn: Tx,
        conversation_id: int,
        updates: Mapping[str, Any],
        *,
        items_added: int = 0,
        requeue: bool = True,
    ) -> None:
        """Set columns, count new items and move the conversation in the queue, at once."""
        conversations.update(
            self.desk,
            conn,
            conversation_id,
            updates,
            now=self.desk.clock.now_ms(),
            items_added=items_added,
            requeue=requeue,
        )

    def event(self, conn: Tx, conversation_id: int, event: str, body: str, **item: Any) -> int:
        """A system event in the timeline (the caller counts it)."""
        return self.insert_item(
            conn, conversation_id, type_="event", sender="system", event=event, body=body, **item
        )

    def assigned(
        self, conn: Tx, conversation_id: int, agent: Row, *, body: str | None = None
    ) -> int:
        """The `assigned` timeline event (the caller counts it and sets the assignee)."""
        return self.event(
            conn,
            conversation_id,
            "assigned",
            body or f"Assigned to {agent['name']} ({agent['handle']})",
            agent_id=agent["id"],
        )

    def login_prompt(
        self, conn: Tx, conversation_id: int, *, agent_id: int | None, sender: str
    ) -> int:
        """The login-link message and its `login_prompt_sent` event (two items; caller counts)."""
        app_id = conversations.app_id(conn, conversation_id)
        app = self.directory.app(app_id or self.directory.first_app_id())
        item_id = self.insert_item(
            conn,
            conversation_id,
            type_="message",
            sender=sender,
            body=(
                f"Please log in so we can verify it's you: {app['login_url']}"
                if app["login_url"]
                else "Please log in on our website so we can verify it's you."
            ),
            agent_id=agent_id,
        )
        self.event(
            conn, conversation_id, "login_prompt_sent", "Login prompt sent", agent_id=agent_id
        )
        return item_id
