"""The visibility rule (docs/trust-model.md): which conversations a widget session may read
and write, and how a TRUSTED session joins its verified profile's open chat.
"""

from __future__ import annotations

from core.engine.timeline import Timeline
from core.errors import Conflict, NotFound
from core.store import Desk, Row, Tx, conversations, widget_sessions


def trusted_now(session: Row, now: int) -> bool:
    """Whether a widget session is TRUSTED and inside its trust window at `now`."""
    return session["identity_state"] == "TRUSTED" and (session["trusted_until"] or 0) > now


def live_session(conn: Tx, session_id: object) -> Row:
    """The session's row; it must exist and not have ended."""
    if not isinstance(session_id, str) or not session_id:
        raise NotFound("session: expected a session id")
    row = widget_sessions.get(conn, session_id)
    if row is None:
        raise NotFound(f"no widget session {session_id!r}")
    if row["ended_at"] is not None:
        raise Conflict(f"widget session {session_id!r} has ended; start a new one with init")
    return row


def may_use(session: Row, conv: Row, now: int) -> bool:
    """A session reads and writes the conversations it started, plus, while TRUSTED, open
    conversations of its verified profile on its app in which trust was proven.

    `conv` comes from `conversations.with_access`, with the session's access (`via`)."""
    via = conv["via"]
    if via is None:
        return False
    if via == "started":
        return True
    return (
        trusted_now(session, now)
        and conv["status"] != "CLOSED"
        and conv["profile_id"] == session["profile_id"]
        and conv["app_id"] == session["app_id"]
        and conv["authenticated_at"] is not None
    )


class Access:
    """Grants, checks and joins; each write lands in the caller's transaction."""

    def __init__(self, desk: Desk, timeline: Timeline) -> None:
        self.desk = desk
        self.timeline = timeline

    def grant(self, conn: Tx, session_id: str, conversation_id: int, via: str) -> None:
        widget_sessions.grant(conn, session_id, conversation_id, via, self.desk.clock.now_ms())

    def current(self, conn: Tx, session: Row, now: int) -> Row | None:
        """The session's current conversation, when it is open and still the session's to use."""
        if session["conversation_id"] is None:
            return None
        conv = conversations.with_access(conn, session["id"], session["conversation_id"])
        if conv is None or conv["status"] == "CLOSED" or not may_use(session, conv, now):
            return None
        return conv

    def joinable(self, conn: Tx, session: Row, now: int) -> Row | None:
        """The open conversation a TRUSTED session may join: its verified profile's latest,
        on its app, in which trust was proven (the customer on another device)."""
        if not trusted_now(session, now) or session["profile_id"] is None:
            return None
        return conversations.latest_open_trusted(conn, session["profile_id"], session["app_id"])

    def join(self, conn: Tx, session: Row, conv: Row) -> None:
        """A TRUSTED session joins its verified profile's open conversation."""
        session_id = session["id"]
        self.grant(conn, session_id, conv["id"], "trusted")
        widget_sessions.update(
            conn, session_id, {"conversation_id": conv["id"], "trust_late_in": conv["id"]}
        )
        self.timeline.event(
            conn,
            conv["id"],
            "authenticated",
            "Customer joined from another device, verified by a signed identity token",
            session_id=session_id,
        )
        self.timeline.update(
            conn,
            conv["id"],
            {
                "identity_state": "TRUSTED",
                "identity_source": "jwt",
                "trusted_until": session["trusted_until"],
            },
            items_added=1,
        )

    def identity_event(
        self,
        conn: Tx,
        conversation_id: int | None,
        *,
        event: str,
        body: str,
        session_id: str,
        identity_state: str,
    ) -> None:
        """Mark an identity change in the session's conversation, if it is still open."""
        if conversation_id is None:
            return
        conv = conversations.with_access(conn, session_id, conversation_id)
        if conv is None or conv["status"] == "CLOSED" or conv["via"] is None:
            return  # closed, or never the session's to write in
        self.timeline.event(conn, conversation_id, event, body, session_id=session_id)
        self.timeline.update(
            conn, conversation_id, {"identity_state": identity_state}, items_added=1
        )
