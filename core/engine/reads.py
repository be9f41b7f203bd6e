"""Reads: conversation and profile views, timelines, what a widget sees, exports."""

from __future__ import annotations

from typing import Any

from core.clock import iso
from core.contacts import normalize_email, normalize_phone
from core.engine.access import live_session, may_use, trusted_now
from core.engine.agent_actions import conversation_row
from core.errors import NotFound
from core.models import (
    ConversationView,
    PastConversation,
    ProfileView,
    RejectionNote,
    TimelineItem,
    WidgetEvent,
    glyph,
    identity_state_at,
)
from core.store import Desk, Row, Tx, conversations, items, profiles, widget_sessions
from core.store.audit import conversation_rejections
from core.store.directory import agent_row, inbox_name

#: Rejections a conversation view carries at most.
VIEW_REJECTIONS = 5


class DeskReads:
    """Read-only views over the desk (the console's paged reads are in core.store's queue,
    timeline and profiles modules)."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def conversation(self, conversation_id: int) -> ConversationView:
        with self.desk.reading() as conn:
            return self._conversation_view(conn, conversation_row(conn, conversation_id))

    def _conversation_view(
        self, conn: Tx, conv: Row, *, with_rejections: bool = True
    ) -> ConversationView:
        agent = None
        if conv["assignee_id"] is not None:
            agent = agent_row(conn, conv["assignee_id"])
        last = conv["last_customer_trusted"]
        return ConversationView(
            id=conv["id"],
            status=conv["status"],
            inbox=inbox_name(conn, conv["inbox_id"]),
            assignee=agent["handle"] if agent else None,
            assignee_name=agent["name"] if agent else None,
            profile=self._profile_view(conn, conv["profile_id"]),
            app_id=conv["app_id"],
            identity_state=identity_state_at(
                conv["identity_state"],
                conv["trusted_until"],
                self.desk.clock.now_ms(),
                conv["status"],
            ),
            identity_source=conv["identity_source"],
            trust_path=conv["trust_path"],
            authenticated_at=conv["authenticated_at"],
            created_at=conv["created_at"],
            updated_at=conv["updated_at"],
            routed_at=conv["routed_at"],
            waiting_since=conv["waiting_since"],
            last_customer_trusted=None if last is None else bool(last),
            tags=conversations.tags(conn, conv["id"]),
            claimed_name=conv["claimed_name"],
            trusted_until=conv["trusted_until"],
            rejections=tuple(
                RejectionNote(at=row["at"], code=row["code"], kid=row["kid"])
                for row in (
                    conversation_rejections(conn, conv["id"], VIEW_REJECTIONS)
                    if with_rejections
                    else ()
                )
            ),
        )

    def profile(self, profile_id: int) -> ProfileView:
        with self.desk.reading() as conn:
            return self._profile_view(conn, profile_id)

    def _profile_view(self, conn: Tx, profile_id: int) -> ProfileView:
        details = profiles.contact_details(conn, profile_id)
        if details is None:
            raise NotFound(f"no customer profile {profile_id}")
        name, emails, phones = details
        return ProfileView(id=profile_id, name=name, emails=emails, phones=phones)

    def find_profile(self, email_or_phone: str) -> ProfileView:
        """The profile owning an email or phone number (normalized first)."""
        text = email_or_phone.strip()
        with self.desk.reading() as conn:
            if "@" in text:
                row = profiles.owner(conn, email=normalize_email(text))
            else:
                row = profiles.owner(conn, phone=normalize_phone(text))
            if row is None:
                raise NotFound(f"no customer profile with {text!r}")
            return self._profile_view(conn, row["id"])

    def past_conversations(
        self, profile_id: int, *, exclude: int | None = None
    ) -> list[PastConversation]:
        with self.desk.reading() as conn:
            rows = conversations.past(conn, profile_id, exclude)
        return [PastConversation(*row) for row in rows]

    def timeline(
        self, conversation_id: int, *, after_id: int = 0, limit: int = -1
    ) -> list[TimelineItem]:
        with self.desk.reading() as conn:
            conv = conversation_row(conn, conversation_id)
            rows = items.timeline_rows(conn, conversation_id, after_id=after_id, limit=limit)
        return [TimelineItem.from_row(row, conv["status"]) for row in rows]

    def session_timeline(self, session_id: str) -> list[TimelineItem]:
        """The current conversation's messages as the customer sees them (no internal events),
        if the session may see that conversation now (docs/trust-model.md)."""
        with self.desk.reading() as conn:
            row = live_session(conn, session_id)
            if row["conversation_id"] is None:
                return []
            conv = conversations.with_access(conn, session_id, row["conversation_id"])
            if conv is None or not may_use(row, conv, self.desk.clock.now_ms()):
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
            row = live_session(conn, session_id)
            trusted = trusted_now(row, self.desk.clock.now_ms())
            events = widget_sessions.visible_events(
                conn, row, after=after, trusted=trusted, limit=limit
            )
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
        profile_id = self.find_profile(customer).id if customer is not None else None
        with self.desk.reading() as conn:
            return [
                _exported(
                    self._conversation_view(conn, conv, with_rejections=False),
                    items.export_rows(conn, conv["id"]),
                )
                for conv in conversations.all_rows(conn, profile_id)
            ]


def _exported(view: ConversationView, rows: list[Row]) -> dict[str, Any]:
    return {
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
            for t, s, e, b, a, tr in rows
        ],
    }
