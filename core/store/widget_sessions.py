"""Widget sessions, what each may read (`session_access`), and the change feed as a widget
sees it (docs/trust-model.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.store.desk import Row, Tx


def insert(
    conn: Tx,
    session_id: str,
    app_id: str,
    token_hash: str,
    client_address: str | None,
    now: int,
    *,
    api_user: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO widget_sessions (id, app_id, token_hash, client_address, created_at,"
        " api_user) VALUES (?, ?, ?, ?, ?, ?)",
        (session_id, app_id, token_hash, client_address, now, api_user),
    )


def get(conn: Tx, session_id: str) -> Row | None:
    row: Row | None = conn.execute(
        "SELECT * FROM widget_sessions WHERE id = ?", (session_id,)
    ).fetchone()
    return row


def id_for_token(conn: Tx, token_hash: str) -> str | None:
    row = conn.execute(
        "SELECT id FROM widget_sessions WHERE token_hash = ?", (token_hash,)
    ).fetchone()
    return None if row is None else str(row[0])


def update(conn: Tx, session_id: str, values: Mapping[str, Any]) -> None:
    """Set the given columns of one session."""
    assignments = ", ".join(f"{column} = ?" for column in values)
    conn.execute(
        f"UPDATE widget_sessions SET {assignments} WHERE id = ?", (*values.values(), session_id)
    )


def clear_identity(conn: Tx, session_id: str, visible_after: int) -> None:
    """Back to ANONYMOUS, seeing nothing of the change feed before `visible_after`."""
    conn.execute(
        "UPDATE widget_sessions SET profile_id = NULL, identity_state = 'ANONYMOUS',"
        " identity_source = 'none', display_name = NULL, trusted_until = NULL,"
        " trusted_kid = NULL, expiry_notified = 0, conversation_id = NULL,"
        " trust_late_in = NULL, previous_conversation_id = NULL, visible_after = ?"
        " WHERE id = ?",
        (visible_after, session_id),
    )


def end_trust(conn: Tx, session_id: str, now: int) -> None:
    """TRUSTED -> CLAIMED, the window closed at `now` at the latest."""
    conn.execute(
        "UPDATE widget_sessions SET identity_state = 'CLAIMED', expiry_notified = 1,"
        " trusted_until = CASE WHEN trusted_until < ? THEN trusted_until ELSE ? END,"
        " trust_late_in = NULL WHERE id = ?",
        (now, now, session_id),
    )


def trust_ended(conn: Tx, now: int) -> list[str]:
    """Live TRUSTED sessions whose window ended by `now`."""
    rows = conn.execute(
        "SELECT id FROM widget_sessions WHERE identity_state = 'TRUSTED'"
        " AND trusted_until <= ? AND ended_at IS NULL",
        (now,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def trusting_kids(conn: Tx) -> list[str]:
    """The keys that verified live TRUSTED sessions."""
    rows = conn.execute(
        "SELECT DISTINCT trusted_kid FROM widget_sessions WHERE identity_state = 'TRUSTED'"
        " AND trusted_kid IS NOT NULL AND ended_at IS NULL"
    ).fetchall()
    return [str(r[0]) for r in rows]


def trusted_by(conn: Tx, kid: str) -> list[str]:
    """Live TRUSTED sessions verified by key `kid`."""
    rows = conn.execute(
        "SELECT id FROM widget_sessions WHERE identity_state = 'TRUSTED'"
        " AND trusted_kid = ? AND ended_at IS NULL",
        (kid,),
    ).fetchall()
    return [str(r[0]) for r in rows]


# -- access: what a session may read and write -------------------------------------------------


def grant(conn: Tx, session_id: str, conversation_id: int, via: str, now: int) -> None:
    """Let a session use a conversation: `started` or `trusted` (joined)."""
    conn.execute(
        "INSERT INTO session_access (session_id, conversation_id, via, granted_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (session_id, conversation_id) DO NOTHING",
        (session_id, conversation_id, via, now),
    )


def revoke_all(conn: Tx, session_id: str) -> None:
    conn.execute("DELETE FROM session_access WHERE session_id = ?", (session_id,))


def revoke_trusted(conn: Tx, session_id: str) -> None:
    """End what trust alone gave a session, its current conversation included."""
    conn.execute(
        "UPDATE widget_sessions SET conversation_id = NULL WHERE id = ? AND conversation_id"
        " IN (SELECT conversation_id FROM session_access WHERE session_id = ? AND via = 'trusted')",
        (session_id, session_id),
    )
    conn.execute(
        "DELETE FROM session_access WHERE session_id = ? AND via = 'trusted'", (session_id,)
    )


def visible_events(conn: Tx, session: Row, *, after: int, trusted: bool, limit: int) -> list[Row]:
    """Change-feed rows a widget session may see after `after`, with their items:
    (id, kind, at, conversation_id, item_id, session_id, sender, body, type).

    Its own events since its horizon (`visible_after`), and the events of conversations it
    started or, while `trusted`, its verified profile's open ones on its app.
    """
    return conn.execute(
        VISIBLE_EVENTS_SQL, visible_events_params(session, after, trusted, limit)
    ).fetchall()


#: The ids are chosen (and limited) first, each branch on an index scoped to the session: its
#: own events by `events_session`, its conversations' by `events_conversation`. Only then are
#: the rows and their items read, so no plan can walk the whole `events` table in id order.
VISIBLE_EVENTS_SQL = (
    "WITH visible (id) AS ("
    "   SELECT id FROM events WHERE session_id = :session AND id > :own_after"
    "   UNION"
    "   SELECT f.id FROM session_access a"
    "   JOIN conversations c ON c.id = a.conversation_id"
    "   JOIN events f ON f.conversation_id = a.conversation_id AND f.id > :after"
    "   WHERE a.session_id = :session AND (a.via = 'started' OR (:trusted = 1"
    "     AND c.profile_id = :profile AND c.app_id = :app"
    "     AND (c.status != 'CLOSED' OR f.kind = 'conversation.closed')))"
    "     AND f.kind IN ('item.created', 'conversation.created',"
    "       'conversation.closed', 'conversation.reopened')"
    "   ORDER BY 1 LIMIT :limit)"
    " SELECT e.id, e.kind, e.at, e.conversation_id, e.item_id, e.session_id,"
    " i.sender, i.body, i.type"
    " FROM visible v JOIN events e ON e.id = v.id LEFT JOIN items i ON i.id = e.item_id"
    " ORDER BY e.id"
)


def visible_events_params(session: Row, after: int, trusted: bool, limit: int) -> dict[str, Any]:
    return {
        "session": session["id"],
        "after": after,
        "own_after": max(after, session["visible_after"]),
        "trusted": int(trusted),
        "profile": session["profile_id"],
        "app": session["app_id"],
        "limit": limit,
    }
