"""Reads: conversation and profile views, timelines, what a widget sees, exports."""

from __future__ import annotations

import sqlite3
from typing import Any

from core.clock import iso
from core.contacts import normalize_email, normalize_phone
from core.engine.base import EngineBase, trusted_now
from core.errors import NotFound
from core.models import (
    ConversationView,
    PastConversation,
    ProfileView,
    TimelineItem,
    WidgetEvent,
    glyph,
    identity_state_at,
)


class DeskReads(EngineBase):
    """Read-only views over the desk (the console's large-scale reads are core.queries)."""

    def conversation(self, conversation_id: int) -> ConversationView:
        with self.desk.reading() as conn:
            conv = self._conversation_row(conn, conversation_id)
            return self._conversation_view(conn, conv)

    def _conversation_view(self, conn: sqlite3.Connection, conv: sqlite3.Row) -> ConversationView:
        inbox = conn.execute(
            "SELECT name FROM inboxes WHERE id = ?", (conv["inbox_id"],)
        ).fetchone()
        agent = None
        if conv["assignee_id"] is not None:
            agent = conn.execute(
                "SELECT handle, name FROM agents WHERE id = ?", (conv["assignee_id"],)
            ).fetchone()
        tags = tuple(
            r[0]
            for r in conn.execute(
                "SELECT tag FROM conversation_tags WHERE conversation_id = ? ORDER BY tag",
                (conv["id"],),
            )
        )
        last = conv["last_customer_trusted"]
        return ConversationView(
            id=conv["id"],
            status=conv["status"],
            inbox=inbox[0],
            assignee=agent[0] if agent else None,
            assignee_name=agent[1] if agent else None,
            profile=self._profile_view(conn, conv["profile_id"]),
            app_id=conv["app_id"],
            identity_state=identity_state_at(
                conv["identity_state"], conv["trusted_until"], self.now, conv["status"]
            ),
            identity_source=conv["identity_source"],
            trust_path=conv["trust_path"],
            authenticated_at=conv["authenticated_at"],
            created_at=conv["created_at"],
            updated_at=conv["updated_at"],
            routed_at=conv["routed_at"],
            waiting_since=conv["waiting_since"],
            last_customer_trusted=None if last is None else bool(last),
            tags=tags,
            claimed_name=conv["claimed_name"],
            trusted_until=conv["trusted_until"],
        )

    def profile(self, profile_id: int) -> ProfileView:
        with self.desk.reading() as conn:
            return self._profile_view(conn, profile_id)

    def _profile_view(self, conn: sqlite3.Connection, profile_id: int) -> ProfileView:
        row = conn.execute("SELECT id, name FROM profiles WHERE id = ?", (profile_id,)).fetchone()
        if row is None:
            raise NotFound(f"no customer profile {profile_id}")
        emails = tuple(
            r[0]
            for r in conn.execute(
                "SELECT email FROM profile_emails WHERE profile_id = ? ORDER BY email",
                (profile_id,),
            )
        )
        phones = tuple(
            r[0]
            for r in conn.execute(
                "SELECT phone FROM profile_phones WHERE profile_id = ? ORDER BY phone",
                (profile_id,),
            )
        )
        return ProfileView(id=row[0], name=row[1], emails=emails, phones=phones)

    def find_profile(self, email_or_phone: str) -> ProfileView:
        """The profile owning an email or phone number (normalized first)."""
        text = email_or_phone.strip()
        with self.desk.reading() as conn:
            if "@" in text:
                row = self._find_profile(conn, normalize_email(text), None)
            else:
                row = self._find_profile(conn, None, normalize_phone(text))
            if row is None:
                raise NotFound(f"no customer profile with {text!r}")
            return self._profile_view(conn, row["id"])

    def past_conversations(
        self, profile_id: int, *, exclude: int | None = None
    ) -> list[PastConversation]:
        rows = self.desk.query(
            "SELECT c.id, c.status, i.name, c.created_at, c.trust_path,"
            " (SELECT count(*) FROM items t WHERE t.conversation_id = c.id AND t.trusted = 1),"
            " (SELECT count(*) FROM items t WHERE t.conversation_id = c.id"
            "   AND t.sender = 'customer' AND t.type = 'message')"
            " FROM conversations c JOIN inboxes i ON i.id = c.inbox_id"
            " WHERE c.profile_id = ? AND c.id != ? ORDER BY c.created_at DESC, c.id DESC",
            (profile_id, -1 if exclude is None else exclude),
        )
        return [PastConversation(*row) for row in rows]

    def timeline(
        self, conversation_id: int, *, after_id: int = 0, limit: int = -1
    ) -> list[TimelineItem]:
        with self.desk.reading() as conn:
            conv = self._conversation_row(conn, conversation_id)
            rows = conn.execute(
                f"SELECT {TimelineItem.COLUMNS} FROM items i"
                " LEFT JOIN agents a ON a.id = i.agent_id"
                " WHERE i.conversation_id = ? AND i.id > ? ORDER BY i.id LIMIT ?",
                (conversation_id, after_id, limit),
            ).fetchall()
        return [TimelineItem.from_row(row, conv["status"]) for row in rows]

    def session_timeline(self, session_id: str) -> list[TimelineItem]:
        """The current conversation's messages as the customer sees them (no internal events),
        if the session may see that conversation now (docs/trust-model.md)."""
        with self.desk.reading() as conn:
            row = self._session_row(conn, session_id)
            if row["conversation_id"] is None:
                return []
            conv = self._conversation_for(conn, session_id, row["conversation_id"])
            if conv is None or not self._may_use(row, conv, self.now):
                return []
        return [item for item in self.timeline(row["conversation_id"]) if item.type == "message"]

    def widget_events(
        self, session_id: str, *, after: int = 0, limit: int = 200
    ) -> list[WidgetEvent]:
        """What the widget of this session receives after change-feed id `after`.

        Only what the session may see now: its own events since its last clear_user or
        identity switch, and events of the conversations it may read (it started them, or,
        while TRUSTED, they are its verified profile's open ones).
        """
        with self.desk.reading() as conn:
            row = self._session_row(conn, session_id)
            trusted = trusted_now(row, self.now)
            events = conn.execute(
                "SELECT e.id, e.kind, e.at, e.conversation_id, e.item_id, e.session_id,"
                " i.sender, i.body, i.type"
                " FROM events e LEFT JOIN items i ON i.id = e.item_id"
                " WHERE e.id IN ("
                "   SELECT id FROM events WHERE session_id = :session AND id > :own_after"
                "   UNION"
                "   SELECT f.id FROM session_access a"
                "   JOIN conversations c ON c.id = a.conversation_id"
                "   JOIN events f ON f.conversation_id = a.conversation_id AND f.id > :after"
                "   WHERE a.session_id = :session AND (a.via = 'started' OR (:trusted"
                "     AND c.profile_id = :profile AND c.app_id = :app"
                "     AND (c.status != 'CLOSED' OR f.kind = 'conversation.closed')))"
                "     AND f.kind IN ('item.created', 'conversation.created',"
                "       'conversation.closed', 'conversation.reopened'))"
                " ORDER BY e.id LIMIT :limit",
                {
                    "session": session_id,
                    "after": after,
                    "own_after": max(after, row["visible_after"]),
                    "trusted": int(trusted),
                    "profile": row["profile_id"],
                    "app": row["app_id"],
                    "limit": limit,
                },
            ).fetchall()
        out = []
        for event_id, kind, at, conv_id, item_id, _sid, sender, body, item_type in events:
            if kind == "item.created" and item_type == "message" and sender in ("agent", "bot"):
                out.append(
                    WidgetEvent(
                        event_id,
                        "message:received",
                        {"id": item_id, "sender": sender, "body": body, "at": iso(at)},
                    )
                )
            elif kind == "conversation.created":
                out.append(WidgetEvent(event_id, "conversation:started", {"id": conv_id}))
            elif kind == "conversation.closed":
                out.append(WidgetEvent(event_id, "conversation:ended", {"id": conv_id}))
            elif kind == "session.expired":
                out.append(WidgetEvent(event_id, "identity:expired", {"at": iso(at)}))
        return out

    def export_conversations(self, customer: str | None = None) -> list[dict[str, Any]]:
        """Conversations with their timelines, as `gladdesk export conversations` prints them."""
        with self.desk.reading() as conn:
            if customer is not None:
                profile = self.find_profile(customer)
                convs = conn.execute(
                    "SELECT * FROM conversations WHERE profile_id = ? ORDER BY id", (profile.id,)
                ).fetchall()
            else:
                convs = conn.execute("SELECT * FROM conversations ORDER BY id").fetchall()
            out = []
            for conv in convs:
                view = self._conversation_view(conn, conv)
                items = conn.execute(
                    "SELECT type, sender, event, body, at, trusted FROM items"
                    " WHERE conversation_id = ? ORDER BY id",
                    (conv["id"],),
                ).fetchall()
                out.append(
                    {
                        "id": view.id,
                        "status": view.status,
                        "inbox": view.inbox,
                        "assignee": view.assignee,
                        "identity": {
                            "state": view.identity_state,
                            "source": view.identity_source,
                            "trust_path": view.trust_path,
                        },
                        "tags": list(view.tags),
                        "claimed_name": view.claimed_name,
                        "customer": {
                            "id": view.profile.id,
                            "name": view.profile.name,
                            "emails": list(view.profile.emails),
                            "phones": list(view.profile.phones),
                        },
                        "items": [
                            {
                                "type": t,
                                "sender": s,
                                "event": e,
                                "body": b,
                                "at": iso(a),
                                "trusted": None if tr is None else bool(tr),
                                "glyph": glyph(tr, view.status),
                            }
                            for t, s, e, b, a, tr in items
                        ],
                    }
                )
            return out
