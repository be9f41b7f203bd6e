"""Widget sessions (the Glad App calls): init, onboarding, setUser, clearUser, customer
messages, the trust window and routing of new conversations.
"""

from __future__ import annotations

import secrets
import sqlite3
from typing import TYPE_CHECKING, Any

from core.contacts import first_name, normalize_email, normalize_name, normalize_phone
from core.engine.base import (
    DEFAULT_LOGIN_HOLD_S,
    EngineBase,
    InvalidInput,
    RuleAction,
    RuleFacts,
    check_body,
    hash_token,
    render,
    trusted_now,
)
from core.errors import Conflict, NotFound
from core.models import (
    SentMessage,
    SessionStart,
    SessionView,
)
from core.store import queue_key

if TYPE_CHECKING:  # the verifier (PyJWT, cryptography) loads on the first token
    from core.identity import VerifiedIdentity


class WidgetSessions(EngineBase):
    """What the customer's widget does, decided on the desk's side."""

    def init_session(self, app_id: str, *, client_address: str | None = None) -> SessionStart:
        """Open a widget session: returns the first message and whether onboarding is needed."""
        app = self.app(app_id)
        session_id = "ws_" + secrets.token_urlsafe(12)
        token = secrets.token_urlsafe(32)
        now = self.now
        with self.desk.transaction() as conn:
            conn.execute(
                "INSERT INTO widget_sessions (id, app_id, token_hash, client_address, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (session_id, app_id, hash_token(token), client_address, now),
            )
            self.desk.emit("session.started", at=now, session_id=session_id)
        return SessionStart(
            session_id=session_id,
            token=token,
            app_id=app_id,
            first_message=self._first_message(app, None),
            onboarding_required=bool(app["onboarding_enabled"]),
            onboarding_identity=app["onboarding_identity"],
        )

    def _first_message(self, app: sqlite3.Row, name: str | None) -> str:
        return render(
            app["first_message"],
            login_url=app["login_url"],
            signup_url=app["signup_url"],
            first_name=first_name(name),
            store_name=app["store_name"],
        )

    def session(self, session_id: str) -> SessionView:
        row = self.desk.query_one("SELECT * FROM widget_sessions WHERE id = ?", (session_id,))
        if row is None:
            raise NotFound(f"no widget session {session_id!r}")
        return self._session_view(row)

    def _session_view(self, row: sqlite3.Row) -> SessionView:
        app = self.app(row["app_id"])
        name = row["display_name"]
        identified = row["identity_state"] != "ANONYMOUS"
        return SessionView(
            id=row["id"],
            app_id=row["app_id"],
            identity_state=row["identity_state"],
            identity_source=row["identity_source"],
            profile_id=row["profile_id"],
            name=name,
            first_name=first_name(name),
            trusted_until=row["trusted_until"],
            conversation_id=row["conversation_id"],
            greeting=render(
                app["greeting"], first_name=first_name(name), store_name=app["store_name"]
            )
            if identified
            else None,
            onboarding_required=bool(app["onboarding_enabled"]) and not identified,
            ended=row["ended_at"] is not None,
        )

    def submit_onboarding(
        self,
        session_id: str,
        *,
        name: object,
        email: object = None,
        phone: object = None,
    ) -> SessionView:
        """The onboarding form: name plus the app's identity field (email or phone). Claimed."""
        with self.desk.transaction() as conn:
            row = self._session_row(conn, session_id)
            app = self.app(row["app_id"])
            if row["identity_state"] != "ANONYMOUS":
                raise Conflict("onboarding: this session is already identified")
            field = app["onboarding_identity"]
            if field == "email" and phone is not None:
                raise InvalidInput("onboarding: this app asks for an email, not a phone")
            if field == "phone" and email is not None:
                raise InvalidInput("onboarding: this app asks for a phone number, not an email")
            clean_name = normalize_name(name)
            contact = normalize_email(email) if field == "email" else normalize_phone(phone)
            session = self._identify(
                conn,
                row,
                name=clean_name,
                email=contact if field == "email" else None,
                phone=contact if field == "phone" else None,
                state="CLAIMED",
                source="onboarding_form",
            )
            return self._session_view(session)

    def set_user(
        self,
        session_id: str,
        *,
        name: object = None,
        email: object = None,
        phone: object = None,
        jwt: object = None,
    ) -> SessionView:
        """`setUser`: a JWT makes the session TRUSTED; name + email/phone makes it CLAIMED.

        A rejected token raises `TokenRejected` and leaves the session exactly as it was.
        """
        if jwt is not None:
            return self._set_user_jwt(session_id, jwt, client_name=name)
        if (email is None) == (phone is None):
            raise InvalidInput("set_user: give exactly one of email or phone (or a jwt)")
        clean_name = normalize_name(name)
        clean_email = normalize_email(email) if email is not None else None
        clean_phone = normalize_phone(phone) if phone is not None else None
        with self.desk.transaction() as conn:
            row = self._session_row(conn, session_id)
            session = self._identify(
                conn,
                row,
                name=clean_name,
                email=clean_email,
                phone=clean_phone,
                state="CLAIMED",
                source="set_user",
            )
            return self._session_view(session)

    def _set_user_jwt(self, session_id: str, token: object, *, client_name: object) -> SessionView:
        if not isinstance(token, str):
            raise InvalidInput("set_user: jwt must be a string")
        # Check the session first: a token for a dead session is not even looked at. The
        # verifier writes its audit row in its own transaction, so it runs outside ours; the
        # jti is bound inside ours (one commit), and a replay is audited after the rollback.
        row = self._session_row(None, session_id)
        identity = self.keyring.verify(
            token,
            session_id=session_id,
            client_address=row["client_address"],
            app_id=row["app_id"],
            bind=False,
        )
        from core.identity import TokenRejected

        try:
            return self._trust_session(session_id, identity, client_name)
        except TokenRejected as rejection:
            self.keyring.audit(rejection, session_id, row["client_address"])
            raise

    def _trust_session(
        self, session_id: str, identity: VerifiedIdentity, client_name: object
    ) -> SessionView:
        with self.desk.transaction() as conn:
            row = self._session_row(conn, session_id)
            if identity.jti is not None:
                self.keyring.bind_jti(identity, session_id)
            # Signed claims win; then the profile's own name; a client-sent name only names a
            # profile created now.
            fallback = None
            if isinstance(client_name, str) and client_name.strip():
                fallback = normalize_name(client_name)
            session = self._identify(
                conn,
                row,
                name=identity.name,
                new_profile_name=fallback,
                email=identity.email,
                phone=identity.phone,
                state="TRUSTED",
                source="jwt",
                kid=identity.kid,
            )
            return self._session_view(session)

    def _profile_for(
        self, conn: sqlite3.Connection, name: str | None, email: str | None, phone: str | None
    ) -> tuple[int, str]:
        """Find the profile owning this email/phone, or create it. Never matches by name."""
        found = self._find_profile(conn, email, phone)
        if found is not None:
            return int(found["id"]), str(found["name"])
        display = name or (email.split("@")[0] if email else phone) or "Customer"
        cursor = conn.execute(
            "INSERT INTO profiles (name, created_at) VALUES (?, ?)", (display, self.now)
        )
        profile_id = int(cursor.lastrowid or 0)
        if email is not None:
            conn.execute(
                "INSERT INTO profile_emails (email, profile_id) VALUES (?, ?)", (email, profile_id)
            )
        if phone is not None:
            conn.execute(
                "INSERT INTO profile_phones (phone, profile_id) VALUES (?, ?)", (phone, profile_id)
            )
        return profile_id, display

    def _identify(
        self,
        conn: sqlite3.Connection,
        row: sqlite3.Row,
        *,
        name: str | None,
        email: str | None,
        phone: str | None,
        state: str,
        source: str,
        kid: str | None = None,
        new_profile_name: str | None = None,
    ) -> sqlite3.Row:
        """Attach the session to the profile owning email/phone, as CLAIMED or TRUSTED;
        returns the session's row as it is now.

        An anonymous session's own chat comes along (it was this person all along). A switch
        to another person ends the session's access to everything before (scenario 5). A
        claim never attaches the session to a conversation it did not start; trust lets it
        join its verified profile's open conversation (docs/trust-model.md).
        """
        now = self.now
        session_id = row["id"]
        if row["identity_state"] == "TRUSTED" and not trusted_now(row, now):
            self._lapse(conn, row, now)  # a window that ended is written as ended first
            row = self._session_row(conn, session_id)
        profile_id, profile_name = self._profile_for(conn, name or new_profile_name, email, phone)
        display = name or profile_name
        previous = row["profile_id"]
        adopting = (
            previous is not None
            and previous != profile_id
            and (row["identity_state"] == "ANONYMOUS")
        )
        switched = previous is not None and previous != profile_id and not adopting
        conversation_id = row["conversation_id"]
        previous_conversation = row["previous_conversation_id"]
        was_trusted_now = trusted_now(row, now) and not switched
        if state == "CLAIMED" and not switched and row["identity_state"] == "TRUSTED":
            # A plain setUser never lowers nor raises trust for the person already proven.
            state, source = row["identity_state"], row["identity_source"]
        trusted_until = None
        if state == "TRUSTED":
            # Only a verified token starts or renews the window; a plain setUser keeps it.
            window_s = self.app(row["app_id"])["trust_window_s"]
            trusted_until = now + int(window_s) * 1000 if kid is not None else row["trusted_until"]
        if switched:
            # A different person on the same widget: nothing carries across.
            conn.execute("DELETE FROM session_access WHERE session_id = ?", (session_id,))
            previous_conversation, conversation_id = conversation_id, None
        if adopting:
            conn.execute(
                "UPDATE conversations SET profile_id = ? WHERE profile_id = ?"
                " AND started_session_id = ?",
                (profile_id, previous, session_id),
            )
        conv = None
        if conversation_id is not None:
            conv = self._conversation_for(conn, session_id, conversation_id)
        becomes_trusted = state == "TRUSTED" and source == "jwt" and not was_trusted_now
        trust_late_in = row["trust_late_in"] if not switched else None
        if state != "TRUSTED":
            trust_late_in = None
        elif becomes_trusted:
            routed = conv is not None and conv["routed_at"] is not None
            trust_late_in = conversation_id if routed else None
        conn.execute(
            "UPDATE widget_sessions SET profile_id = ?, identity_state = ?, identity_source = ?,"
            " display_name = ?, trusted_until = ?, trusted_kid = coalesce(?, trusted_kid),"
            " expiry_notified = 0, conversation_id = ?, trust_late_in = ?,"
            " previous_conversation_id = ? WHERE id = ?",
            (
                profile_id,
                state,
                source,
                display,
                trusted_until,
                kid,
                conversation_id,
                trust_late_in,
                previous_conversation,
                session_id,
            ),
        )
        marker = self.desk.emit(
            "session.identified", at=now, session_id=session_id, profile_id=profile_id
        )
        if switched:
            conn.execute(
                "UPDATE widget_sessions SET visible_after = ? WHERE id = ?", (marker, session_id)
            )
        session = self._session_row(conn, session_id)
        if conv is not None and (
            conv["status"] == "CLOSED" or not self._may_use(session, conv, now)
        ):
            conv = None
        if conv is None:
            joinable = self._joinable(conn, session, now)
            if joinable is None:
                return session
            self._join(conn, session, joinable)
        else:
            self._identify_in_conversation(conn, session, conv, becomes_trusted=becomes_trusted)
        return self._session_row(conn, session_id)

    def _identify_in_conversation(
        self,
        conn: sqlite3.Connection,
        session: sqlite3.Row,
        conv: sqlite3.Row,
        *,
        becomes_trusted: bool,
    ) -> None:
        """The session's own open conversation follows its identity; a login marks the moment."""
        now = self.now
        conversation_id = conv["id"]
        state, source = session["identity_state"], session["identity_source"]
        updates: dict[str, Any] = {
            "identity_state": state,
            "identity_source": source,
            "claimed_name": None if source == "jwt" else session["display_name"],
        }
        if state == "TRUSTED":
            updates["trusted_until"] = session["trusted_until"]
        if becomes_trusted:
            self._insert_item(
                conn,
                conversation_id,
                type_="event",
                sender="system",
                event="authenticated",
                body="Customer authenticated with a signed identity token"
                + (" after the chat was routed" if conv["routed_at"] is not None else ""),
                session_id=session["id"],
            )
            if conv["authenticated_at"] is None:
                updates["authenticated_at"] = now
                updates["trust_path"] = (
                    "after_routing" if conv["routed_at"] is not None else "before_routing"
                )
        self._update_conversation(
            conn, conversation_id, updates, items_added=1 if becomes_trusted else 0
        )
        if becomes_trusted and conv["routed_at"] is None:
            self._route(conn, conversation_id)
        if becomes_trusted:
            self._apply_rules(
                conn, "identity", conversation_id, session_id=session["id"], message=""
            )

    def clear_user(self, session_id: str) -> SessionView:
        """Logout: back to ANONYMOUS; the session loses all access to what came before,
        replays of the change feed included."""
        with self.desk.transaction() as conn:
            row = self._session_row(conn, session_id)
            self._identity_event(
                conn,
                row["conversation_id"],
                event="identity_cleared",
                body="Customer logged out; the widget no longer has access to this chat",
                session_id=session_id,
                identity_state="ANONYMOUS",
            )
            conn.execute("DELETE FROM session_access WHERE session_id = ?", (session_id,))
            marker = self.desk.emit("session.cleared", session_id=session_id)
            conn.execute(
                "UPDATE widget_sessions SET profile_id = NULL, identity_state = 'ANONYMOUS',"
                " identity_source = 'none', display_name = NULL, trusted_until = NULL,"
                " trusted_kid = NULL, expiry_notified = 0, conversation_id = NULL,"
                " trust_late_in = NULL, previous_conversation_id = NULL, visible_after = ?"
                " WHERE id = ?",
                (marker, session_id),
            )
            return self._session_view(self._session_row(conn, session_id))

    def end_session(self, session_id: str) -> None:
        with self.desk.transaction() as conn:
            self._session_row(conn, session_id)
            conn.execute(
                "UPDATE widget_sessions SET ended_at = ? WHERE id = ?", (self.now, session_id)
            )
            self.desk.emit("session.ended", session_id=session_id)

    def expire_trust(self) -> list[str]:
        """Lapse every session whose trust window ended; returns their ids.

        Each gets a `trust_expired` timeline event and an `identity:expired` widget event.
        """
        now = self.now
        rows = self.desk.query(
            "SELECT id FROM widget_sessions WHERE identity_state = 'TRUSTED'"
            " AND trusted_until <= ? AND ended_at IS NULL",
            (now,),
        )
        expired = []
        for (session_id,) in rows:
            with self.desk.transaction() as conn:
                row = conn.execute(
                    "SELECT * FROM widget_sessions WHERE id = ?", (session_id,)
                ).fetchone()
                if self._lapse(conn, row, now):
                    expired.append(session_id)
        return expired

    def revoke_retired_trust(self) -> list[str]:
        """End the trust of every session trusted through a key retired since; returns their
        ids. Each gets a `trust_revoked` timeline event and an `identity:expired` widget event.
        """
        kids = [
            r[0]
            for r in self.desk.query(
                "SELECT DISTINCT trusted_kid FROM widget_sessions WHERE identity_state = 'TRUSTED'"
                " AND trusted_kid IS NOT NULL AND ended_at IS NULL"
            )
        ]
        revoked = []
        for kid in kids:
            if not self.keyring.is_retired(kid):
                continue
            rows = self.desk.query(
                "SELECT id FROM widget_sessions WHERE identity_state = 'TRUSTED'"
                " AND trusted_kid = ? AND ended_at IS NULL",
                (kid,),
            )
            for (session_id,) in rows:
                with self.desk.transaction() as conn:
                    row = self._session_row(conn, session_id)
                    if row["identity_state"] == "TRUSTED":
                        self._end_trust(conn, row, self.now, revoked_kid=kid)
                        revoked.append(session_id)
        return revoked

    def _lapse(self, conn: sqlite3.Connection, row: sqlite3.Row, now: int) -> bool:
        if row["identity_state"] != "TRUSTED" or (row["trusted_until"] or 0) > now:
            return False
        self._end_trust(conn, row, now)
        return True

    def _end_trust(
        self,
        conn: sqlite3.Connection,
        row: sqlite3.Row,
        now: int,
        *,
        revoked_kid: str | None = None,
    ) -> None:
        """TRUSTED -> CLAIMED: the window ended, or the key that gave the trust was retired."""
        if revoked_kid is None:
            event = "trust_expired"
            body = (
                "Trust window ended; new messages are not verified until the customer logs in again"
            )
        else:
            event = "trust_revoked"
            body = (
                f"The signing key {revoked_kid!r} that verified this customer was retired;"
                " new messages are not verified until the customer logs in again"
            )
        self._identity_event(
            conn,
            row["conversation_id"],
            event=event,
            body=body,
            session_id=row["id"],
            identity_state="CLAIMED",
        )
        conn.execute(
            "UPDATE widget_sessions SET identity_state = 'CLAIMED', expiry_notified = 1,"
            " trusted_until = min(coalesce(trusted_until, ?), ?), trust_late_in = NULL"
            " WHERE id = ?",
            (now, now, row["id"]),
        )
        self._drop_trusted_access(conn, row["id"])
        self.desk.emit("session.expired", at=now, session_id=row["id"])

    def send_message(self, session_id: str, body: object) -> SentMessage:
        """A customer message. Its `trusted` flag is decided now and stored once.

        It goes to the session's own conversation, or, while TRUSTED, its verified profile's
        open one; otherwise it starts a conversation of its own (docs/trust-model.md).
        """
        text = check_body(body)
        with self.desk.transaction() as conn:
            row = self._session_row(conn, session_id)
            now = self.now
            if row["identity_state"] == "TRUSTED":
                if (row["trusted_until"] or 0) <= now:
                    self._lapse(conn, row, now)
                    row = self._session_row(conn, session_id)
                elif row["trusted_kid"] is not None and self.keyring.is_retired(row["trusted_kid"]):
                    self._end_trust(conn, row, now, revoked_kid=row["trusted_kid"])
                    row = self._session_row(conn, session_id)
            trusted = trusted_now(row, now)
            profile_id = row["profile_id"]
            if profile_id is None:
                app = self.app(row["app_id"])
                if app["onboarding_enabled"]:
                    raise Conflict(
                        "message: introduce yourself first (onboarding form, setUser or login)"
                    )
                profile_id = self._anonymous_profile(conn, session_id)
                row = self._session_row(conn, session_id)
            conv = None
            if row["conversation_id"] is not None:
                conv = self._conversation_for(conn, session_id, row["conversation_id"])
                if conv is not None and (
                    conv["status"] == "CLOSED" or not self._may_use(row, conv, now)
                ):
                    conv = None
            if conv is None:
                joinable = self._joinable(conn, row, now)
                if joinable is None:
                    return self._new_conversation(conn, row, profile_id, text, trusted, now)
                self._join(conn, row, joinable)
                row = self._session_row(conn, session_id)
                conv = conn.execute(
                    "SELECT * FROM conversations WHERE id = ?", (joinable["id"],)
                ).fetchone()
            item_id = self._insert_item(
                conn,
                conv["id"],
                type_="message",
                sender="customer",
                body=text,
                trusted=trusted,
                session_id=session_id,
                at=now,
            )
            # Only what changes: an indexed column in the SET list rewrites its index entries,
            # and a customer adding to a chat already waiting changes no queue position.
            updates: dict[str, Any] = {"last_customer_item_id": item_id, "last_preview": text[:200]}
            changed = {
                "status": "OPEN",
                "last_customer_trusted": int(trusted),
                "identity_state": row["identity_state"],
                "identity_source": row["identity_source"],
            }
            if trusted:
                changed["trusted_until"] = row["trusted_until"]
            updates.update({k: v for k, v in changed.items() if conv[k] != v})
            waiting = conv["waiting_since"] is not None
            if not waiting:
                updates["waiting_since"] = now
            self._update_conversation(conn, conv["id"], updates, items_added=1, requeue=not waiting)
            self._apply_rules(conn, "message", conv["id"], session_id=session_id, message=text)
            assignee = None
            if conv["assignee_id"] is not None:
                assignee = self._agent_row(conn, conv["assignee_id"])["handle"]
            return SentMessage(
                item_id=item_id,
                conversation_id=int(conv["id"]),
                trusted=trusted,
                new_conversation=False,
                assignee=assignee,
            )

    def _anonymous_profile(self, conn: sqlite3.Connection, session_id: str) -> int:
        cursor = conn.execute(
            "INSERT INTO profiles (name, created_at) VALUES (?, ?)",
            ("Anonymous visitor", self.now),
        )
        profile_id = int(cursor.lastrowid or 0)
        conn.execute(
            "UPDATE widget_sessions SET profile_id = ? WHERE id = ?", (profile_id, session_id)
        )
        return profile_id

    def _new_conversation(
        self,
        conn: sqlite3.Connection,
        session: sqlite3.Row,
        profile_id: int,
        text: str,
        trusted: bool,
        now: int,
    ) -> SentMessage:
        """The first message of a chat: rules pick inbox and hold, then the least-loaded agent.

        The conversation row is written once with its final routing, then its first items.
        """
        session_id = session["id"]
        inbox = self.default_inbox()
        actions: list[RuleAction] = []
        if self.rules.wants("routing"):
            actions = self.rules.evaluate(
                RuleFacts(
                    trigger="routing",
                    app_id=session["app_id"],
                    identity_state=session["identity_state"],
                    identity_source=session["identity_source"],
                    trust_timing="before_routing" if trusted else None,
                    first_message=text,
                    message=text,
                    inbox=inbox,
                    name=session["display_name"],
                    first_name=first_name(session["display_name"]),
                    conversation_id=None,
                ),
            )
        hold = False
        for action in actions:
            if action.kind == "route":
                inbox = action.value
            elif action.kind == "require_login" and not trusted:
                hold = True
        try:
            inbox_id = self.inbox_id(inbox)
        except NotFound:  # a rule names an inbox removed since the rules loaded
            inbox_id = self.inbox_id(self.default_inbox())
        # A switch of identity in this session (scenario 5): trust came about differently, and
        # the new person should get another agent than the previous one's when one is free.
        switched = session["previous_conversation_id"] is not None
        avoid = self._previous_agent(conn, session) if switched else None
        # Another open chat of the same profile (another session; it stays apart): the same
        # agent where possible, and the agent is told.
        other = conn.execute(
            "SELECT id, assignee_id FROM conversations WHERE profile_id = ? AND status != 'CLOSED'"
            " ORDER BY id DESC LIMIT 1",
            (profile_id,),
        ).fetchone()
        prefer = other["assignee_id"] if other is not None else None
        agent = None if hold else self._pick_agent(conn, avoid=avoid, prefer=prefer)
        trust_path = None
        if trusted:
            trust_path = "different_identity" if switched else "before_routing"
        hold_until = None
        if hold:
            hold_s = int(self.desk.setting("login_hold_s", str(DEFAULT_LOGIN_HOLD_S)) or 0)
            hold_until = now + hold_s * 1000
        cursor = conn.execute(
            "INSERT INTO conversations (profile_id, app_id, inbox_id, assignee_id, status,"
            " created_at, updated_at, routed_at, hold_until, waiting_since, queue_key,"
            " identity_state, identity_source, authenticated_at, trust_path,"
            " last_customer_trusted, last_preview, started_session_id, claimed_name,"
            " trusted_until)"
            " VALUES (?, ?, ?, ?, 'OPEN', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                profile_id,
                session["app_id"],
                inbox_id,
                agent["id"] if agent is not None else None,
                now,
                now,
                None if hold else now,
                hold_until,
                now,
                queue_key(now, now),
                session["identity_state"],
                session["identity_source"],
                now if trusted else None,
                trust_path,
                int(trusted),
                text[:200],
                session_id,
                None if session["identity_source"] == "jwt" else session["display_name"],
                session["trusted_until"] if trusted else None,
            ),
        )
        conversation_id = int(cursor.lastrowid or 0)
        self._grant(conn, session_id, conversation_id, "started")
        self.desk.emit(
            "conversation.created",
            at=now,
            conversation_id=conversation_id,
            session_id=session_id,
            profile_id=profile_id,
        )
        count = 0
        if trusted:
            self._insert_item(
                conn,
                conversation_id,
                type_="event",
                sender="system",
                event="authenticated",
                body="Customer authenticated with a signed identity token before the chat started",
                session_id=session_id,
            )
            count += 1
        item_id = self._insert_item(
            conn,
            conversation_id,
            type_="message",
            sender="customer",
            body=text,
            trusted=trusted,
            session_id=session_id,
            at=now,
        )
        count += 1
        conn.execute(
            "UPDATE widget_sessions SET conversation_id = ?, previous_conversation_id = NULL,"
            " trust_late_in = NULL WHERE id = ?",
            (conversation_id, session_id),
        )
        if other is not None:
            self._insert_item(
                conn,
                conversation_id,
                type_="event",
                sender="system",
                event="other_chat_open",
                body=f"This customer profile has another open chat (#{other['id']}) from a"
                " separate widget session; the two are kept apart",
                session_id=session_id,
            )
            count += 1
        # Bot greetings, tags and login prompts answer the customer before assignment.
        self._run_actions(conn, conversation_id, actions, session_id=session_id)
        if agent is not None:
            self._assigned_item(conn, conversation_id, agent)
            count += 1
        conn.execute(
            "UPDATE conversations SET item_count = item_count + ?, last_customer_item_id = ?"
            " WHERE id = ?",
            (count, item_id, conversation_id),
        )
        if hold:
            self.desk.emit("conversation.held", conversation_id=conversation_id)
        return SentMessage(
            item_id=item_id,
            conversation_id=conversation_id,
            trusted=trusted,
            new_conversation=True,
            assignee=agent["handle"] if agent is not None else None,
        )

    def _previous_agent(self, conn: sqlite3.Connection, session: sqlite3.Row) -> int | None:
        """The agent of the previous person's conversation (to avoid after an identity switch)."""
        previous = conn.execute(
            "SELECT assignee_id FROM conversations WHERE id = ?",
            (session["previous_conversation_id"],),
        ).fetchone()
        return previous[0] if previous else None

    def release_holds(self) -> list[int]:
        """Route every conversation whose login hold timed out to the default inbox."""
        now = self.now
        rows = self.desk.query(
            "SELECT id FROM conversations WHERE routed_at IS NULL AND hold_until <= ?"
            " AND status != 'CLOSED'",
            (now,),
        )
        released = []
        for (conversation_id,) in rows:
            with self.desk.transaction() as conn:
                self._route(conn, conversation_id, inbox_override=self.default_inbox())
                released.append(conversation_id)
        return released

    def tick(self) -> None:
        """Timers: lapse trust windows, release login holds, hand queued chats to free agents.
        Servers and the demo call this about once a second.
        """
        self.expire_trust()
        self.revoke_retired_trust()
        self.release_holds()
        self.assign_queued()
