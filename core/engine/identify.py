"""Identifying a widget session: the profile it becomes, the trust it has, and the
conversation that follows it (docs/trust-model.md, docs/authentication-orders.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.engine.access import Access, live_session, may_use, trusted_now
from core.engine.automation import Automation
from core.engine.directory import Directory
from core.engine.routing import Routing
from core.engine.timeline import Timeline
from core.engine.trust import TrustWindow
from core.store import Desk, Row, Tx, conversations, profiles, widget_sessions


@dataclass(frozen=True, slots=True)
class _Change:
    """What an identification does to a session, decided from its row before writing."""

    state: str
    source: str
    trusted_until: int | None
    adopting: bool  # an anonymous session names itself: its own chat comes along
    switched: bool  # a different person on the same widget: nothing carries across
    becomes_trusted: bool


def _decide(
    row: Row, profile_id: int, state: str, source: str, kid: str | None, now: int, window_s: int
) -> _Change:
    previous = row["profile_id"]
    other_person = previous is not None and previous != profile_id
    adopting = other_person and row["identity_state"] == "ANONYMOUS"
    switched = other_person and not adopting
    was_trusted_now = trusted_now(row, now) and not switched
    if state == "CLAIMED" and not switched and row["identity_state"] == "TRUSTED":
        # A plain setUser never lowers nor raises trust for the person already proven.
        state, source = row["identity_state"], row["identity_source"]
    trusted_until = None
    if state == "TRUSTED":
        # Only a verified token starts or renews the window; a plain setUser keeps it.
        trusted_until = now + window_s * 1000 if kid is not None else row["trusted_until"]
    becomes_trusted = state == "TRUSTED" and source == "jwt" and not was_trusted_now
    return _Change(state, source, trusted_until, adopting, switched, becomes_trusted)


class Identification:
    """`identify`: attach a session to the profile owning an email or phone, as CLAIMED or
    TRUSTED, in the caller's transaction."""

    def __init__(
        self,
        desk: Desk,
        directory: Directory,
        timeline: Timeline,
        access: Access,
        routing: Routing,
        automation: Automation,
        trust: TrustWindow,
    ) -> None:
        self.desk = desk
        self.directory = directory
        self.timeline = timeline
        self.access = access
        self.routing = routing
        self.automation = automation
        self.trust = trust

    def profile_for(
        self, conn: Tx, name: str | None, email: str | None, phone: str | None
    ) -> tuple[int, str]:
        """Find the profile owning this email/phone, or create it. Never matches by name."""
        found = profiles.owner(conn, email=email, phone=phone)
        if found is not None:
            return int(found["id"]), str(found["name"])
        display = name or (email.split("@")[0] if email else phone) or "Customer"
        now = self.desk.clock.now_ms()
        return profiles.insert(conn, display, now, email=email, phone=phone), display

    def identify(
        self,
        conn: Tx,
        row: Row,
        *,
        name: str | None,
        email: str | None,
        phone: str | None,
        state: str,
        source: str,
        kid: str | None = None,
        new_profile_name: str | None = None,
    ) -> Row:
        """Attach the session to the profile owning email/phone; returns its row as it is now.

        An anonymous session's own chat comes along (it was this person all along). A switch
        to another person ends the session's access to everything before (scenario 5). A
        claim never attaches the session to a conversation it did not start; trust lets it
        join its verified profile's open conversation (docs/trust-model.md).
        """
        now = self.desk.clock.now_ms()
        session_id = row["id"]
        if row["identity_state"] == "TRUSTED" and not trusted_now(row, now):
            self.trust.lapse(conn, row, now)  # a window that ended is written as ended first
            row = live_session(conn, session_id)
        profile_id, profile_name = self.profile_for(conn, name or new_profile_name, email, phone)
        window_s = int(self.directory.app(row["app_id"])["trust_window_s"])
        change = _decide(row, profile_id, state, source, kid, now, window_s)
        conv = self._write(conn, row, change, profile_id, name or profile_name, kid)
        session = live_session(conn, session_id)
        if conv is not None and (conv["status"] == "CLOSED" or not may_use(session, conv, now)):
            conv = None
        if conv is None:
            joinable = self.access.joinable(conn, session, now)
            if joinable is None:
                return session
            self.access.join(conn, session, joinable)
        else:
            self._follow(conn, session, conv, becomes_trusted=change.becomes_trusted)
        return live_session(conn, session_id)

    def _write(
        self, conn: Tx, row: Row, change: _Change, profile_id: int, display: str, kid: str | None
    ) -> Row | None:
        """Write the session's new identity; returns its current conversation (with access)."""
        session_id = row["id"]
        conversation_id = row["conversation_id"]
        previous_conversation = row["previous_conversation_id"]
        if change.switched:
            widget_sessions.revoke_all(conn, session_id)
            previous_conversation, conversation_id = conversation_id, None
        if change.adopting:
            conversations.adopt(conn, session_id, row["profile_id"], profile_id)
        conv = None
        if conversation_id is not None:
            conv = conversations.with_access(conn, session_id, conversation_id)
        trust_late_in = row["trust_late_in"] if not change.switched else None
        if change.state != "TRUSTED":
            trust_late_in = None
        elif change.becomes_trusted:
            routed = conv is not None and conv["routed_at"] is not None
            trust_late_in = conversation_id if routed else None
        widget_sessions.update(
            conn,
            session_id,
            {
                "profile_id": profile_id,
                "identity_state": change.state,
                "identity_source": change.source,
                "display_name": display,
                "trusted_until": change.trusted_until,
                "trusted_kid": kid if kid is not None else row["trusted_kid"],
                "expiry_notified": 0,
                "conversation_id": conversation_id,
                "trust_late_in": trust_late_in,
                "previous_conversation_id": previous_conversation,
            },
        )
        marker = self.desk.emit_marker(
            "session.identified",
            at=self.desk.clock.now_ms(),
            session_id=session_id,
            profile_id=profile_id,
        )
        if change.switched:
            widget_sessions.update(conn, session_id, {"visible_after": marker})
        return conv

    def _follow(self, conn: Tx, session: Row, conv: Row, *, becomes_trusted: bool) -> None:
        """The session's own open conversation follows its identity; a login marks the moment."""
        conversation_id = conv["id"]
        routed = conv["routed_at"] is not None
        state, source = session["identity_state"], session["identity_source"]
        updates: dict[str, Any] = {
            "identity_state": state,
            "identity_source": source,
            "claimed_name": None if source == "jwt" else session["display_name"],
        }
        if state == "TRUSTED":
            updates["trusted_until"] = session["trusted_until"]
        if becomes_trusted:
            self.timeline.event(
                conn,
                conversation_id,
                "authenticated",
                "Customer authenticated with a signed identity token"
                + (" after the chat was routed" if routed else ""),
                session_id=session["id"],
            )
            if conv["authenticated_at"] is None:
                updates["authenticated_at"] = self.desk.clock.now_ms()
                updates["trust_path"] = "after_routing" if routed else "before_routing"
        self.timeline.update(conn, conversation_id, updates, items_added=int(becomes_trusted))
        if becomes_trusted and not routed:
            self.routing.route(conn, conversation_id)
        if becomes_trusted:
            self.automation.apply(
                conn, "identity", conversation_id, session_id=session["id"], message=""
            )
