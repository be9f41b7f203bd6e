"""Timeline pages: a keyset walk of `items (conversation_id, id)` from either end."""

from __future__ import annotations

from core.errors import NotFound
from core.models import TimelineItem
from core.store.desk import Desk
from core.store.queue import InvalidQuery, check_limit


def timeline_page(
    desk: Desk,
    conversation_id: int,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 200,
) -> tuple[str, list[TimelineItem]]:
    """Up to `limit` timeline items in order, and the conversation's status.

    `before_id`: the items just before it (older); `after_id`: the ones after it (newer);
    neither: the latest `limit` items. Glyphs follow the status at read time.
    """
    if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
        raise InvalidQuery("conversation: expected a numeric id")
    limit = check_limit(limit)
    for name, value in (("before_id", before_id), ("after_id", after_id)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidQuery(f"timeline page: {name} must be a number")
    if before_id is not None and after_id is not None:
        raise InvalidQuery("timeline page: give before_id or after_id, not both")
    sql = (
        f"SELECT {TimelineItem.COLUMNS} FROM items i LEFT JOIN agents a ON a.id = i.agent_id"
        " WHERE i.conversation_id = ?"
    )
    with desk.reading() as conn:
        conv = conn.execute(
            "SELECT status FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if conv is None:
            raise NotFound(f"no conversation {conversation_id}")
        status = str(conv[0])
        if after_id is not None:
            rows = conn.execute(
                sql + " AND i.id > ? ORDER BY i.id LIMIT ?", (conversation_id, after_id, limit)
            ).fetchall()
        else:
            bound = " AND i.id < ?" if before_id is not None else ""
            params: tuple[object, ...] = (conversation_id,)
            if before_id is not None:
                params += (before_id,)
            rows = conn.execute(
                sql + bound + " ORDER BY i.id DESC LIMIT ?", (*params, limit)
            ).fetchall()
            rows.reverse()
    items = [TimelineItem.from_row(row, status) for row in rows]
    return status, items
