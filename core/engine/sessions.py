"""Widget sessions (the Glad App calls): init, onboarding, setUser, clearUser and customer
messages, decided on the desk's side.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.contacts import first_name, normalize_email, normalize_name, normalize_phone
from core.engine.access import Access, live_session, trusted_now
from core.engine.automation import Automation
from core.engine.directory import Directory
from core.engine.greeting import greeting
from core.engine.identify import Identification
from core.engine.opening import Opening
from core.engine.text import InvalidInput, check_body, hash_token, render
from core.engine.timeline import Timeline
from core.engine.trust import TrustWindow
from core.errors import Conflict, NotFound
from core.models import SentMessage, SessionStart, SessionView
from core.store import Desk, Row, Tx, conversations, profiles, widget_sessions
from core.store.directory import agent_row

if TYPE_CHECKING:  # the verifier (PyJWT, cryptography) loads on the first token
    from core.identity import Keyring, VerifiedIdentity


class WidgetSessions:
    """What the customer's widget does. Every public method is one transaction."""

    def __init__(
        self,
        desk: Desk,
        directory: Directory,
        keyring: Callable[[], Keyring],
        *,
        timeline: Timeline,
        access: Access,
        identification: Identification,
        trust: TrustWindow,
        opening: Opening,
        automation: Automation,
    ) -> None:
        self.desk = desk
        self.directory = directory
        self.keyring = keyring
        self.timeline = timeline
        self.access = access
        self.identification = identification
        self.trust = trust
        self.opening = opening
        self.automation = automation

    def init_session(
        self, app_id: str, *, client_address: str | None = None, api_user: str | None = None
    ) -> SessionStart:
        """Open a widget session: returns the first message and whether onboarding is needed.

        `client_address` is the customer's (None in process); `api_user` names the API user
        whose credentials started it, which the flood budgets do not count.
        """
        app = self.directory.app(app_id)
        session_id = "ws_" + secrets.token_urlsafe(12)
        token = secrets.token_urlsafe(32)
        now = self.desk.clock.now_ms()
        with self.desk.transaction() as conn:
            widget_sessions.insert(
                conn,
                session_id,
                app_id,
                hash_token(token),
                client_address,
                now,
                api_user=api_user,
            )
            self.desk.emit("session.started", at=now, session_id=session_id)
        return SessionStart(
            session_id=session_id,
            token=token,
            app_id=app_id,
            first_message=render(
                app["first_message"],
                login_url=app["login_url"],
                signup_url=app["signup_url"],
                first_name=first_name(None),
                store_name=app["store_name"],
            ),
            onboarding_required=bool(app["onboarding_enabled"]),
            onboarding_identity=app["onboarding_identity"],
        )

    def session_for_token(self, token: str) -> str:
        """The session id a widget bearer token belongs to (HTTP API auth)."""
        with self.desk.reading() as conn:
            session_id = widget_sessions.id_for_token(conn, hash_token(token))
        if session_id is None:
            raise NotFound("unknown or expired widget session token")
        return session_id

    def session(self, session_id: str) -> SessionView:
        with self.desk.reading() as conn:
            row = widget_sessions.get(conn, session_id)
            if row is None:
                raise NotFound(f"no widget session {session_id!r}")
            return self.view(conn, row)

    def view(self, conn: Tx, row: Row) -> SessionView:
        app = self.directory.app(row["app_id"])
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
            greeting=greeting(conn, app, row),
            onboarding_required=bool(app["onboarding_enabled"]) and not identified,
            ended=row["ended_at"] is not None,
            api_user=row["api_user"],
        )

    def submit_onboarding(
        self, session_id: str, *, name: object, email: object = None, phone: object = None
    ) -> SessionView:
        """The onboarding form: name plus the app's identity field (email or phone). Claimed."""
        with self.desk.transaction() as conn:
            row = live_session(conn, session_id)
            app = self.directory.app(row["app_id"])
            if row["identity_state"] != "ANONYMOUS":
                raise Conflict("onboarding: this session is already identified")
            field = app["onboarding_identity"]
            if field == "email" and phone is not None:
                raise InvalidInput("onboarding: this app asks for an email, not a phone")
            if field == "phone" and email is not None:
                raise InvalidInput("onboarding: this app asks for a phone number, not an email")
            clean_name = normalize_name(name)
            contact = normalize_email(email) if field == "email" else normalize_phone(phone)
            session = self.identification.identify(
                conn,
                row,
                name=clean_name,
                email=contact if field == "email" else None,
                phone=contact if field == "phone" else None,
                state="CLAIMED",
                source="onboarding_form",
            )
            return self.view(conn, session)

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
            row = live_session(conn, session_id)
            session = self.identification.identify(
                conn,
                row,
                name=clean_name,
                email=clean_email,
                phone=clean_phone,
                state="CLAIMED",
                source="set_user",
            )
            return self.view(conn, session)

    def _set_user_jwt(self, session_id: str, token: object, *, client_name: object) -> SessionView:
        if not isinstance(token, str):
            raise InvalidInput("set_user: jwt must be a string")
        # Check the session first: a token for a dead session is not even looked at. The
        # verifier writes its audit row in its own transaction, so it runs outside ours; the
        # jti is bound inside ours (one commit), and a replay is audited after the rollback.
        with self.desk.reading() as conn:
            row = live_session(conn, session_id)
        keyring = self.keyring()
        identity = keyring.verify(
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
            keyring.audit(rejection, session_id, row["client_address"], app_id=row["app_id"])
            raise

    def _trust_session(
        self, session_id: str, identity: VerifiedIdentity, client_name: object
    ) -> SessionView:
        with self.desk.transaction() as conn:
            row = live_session(conn, session_id)
            if identity.jti is not None:
                self.keyring().bind_jti(identity, session_id)
            # Signed claims win; then the profile's own name; a client-sent name only names a
            # profile created now.
            fallback = None
            if isinstance(client_name, str) and client_name.strip():
                fallback = normalize_name(client_name)
            session = self.identification.identify(
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
            return self.view(conn, session)

    def clear_user(self, session_id: str) -> SessionView:
        """Logout: back to ANONYMOUS; the session loses all access to what came before,
        replays of the change feed included."""
        with self.desk.transaction() as conn:
            row = live_session(conn, session_id)
            self.access.identity_event(
                conn,
                row["conversation_id"],
                event="identity_cleared",
                body="Customer logged out; the widget no longer has access to this chat",
                session_id=session_id,
                identity_state="ANONYMOUS",
            )
            widget_sessions.revoke_all(conn, session_id)
            marker = self.desk.emit_marker("session.cleared", session_id=session_id)
            widget_sessions.clear_identity(conn, session_id, marker)
            return self.view(conn, live_session(conn, session_id))

    def end_session(self, session_id: str) -> None:
        with self.desk.transaction() as conn:
            live_session(conn, session_id)
            widget_sessions.update(conn, session_id, {"ended_at": self.desk.clock.now_ms()})
            self.desk.emit("session.ended", session_id=session_id)

    def send_message(
        self, session_id: str, body: object, *, admit: Callable[[], None] | None = None
    ) -> SentMessage:
        """A customer message. Its `trusted` flag is decided now and stored once.

        It goes to the session's own conversation, or, while TRUSTED, its verified profile's
        open one; otherwise it starts a conversation of its own (docs/trust-model.md), if the
        app's bound on its address's unassigned conversations allows (`RateLimited` if not)
        and then `admit` (the caller's budget; it raises to refuse) lets it.
        """
        text = check_body(body)
        with self.desk.transaction() as conn:
            now = self.desk.clock.now_ms()
            row = self.trust.refresh(conn, live_session(conn, session_id), now)
            trusted = trusted_now(row, now)
            profile_id = row["profile_id"]
            if profile_id is None:
                if self.directory.app(row["app_id"])["onboarding_enabled"]:
                    raise Conflict(
                        "message: introduce yourself first (onboarding form, setUser or login)"
                    )
                profile_id = self._anonymous_profile(conn, session_id, now)
                row = live_session(conn, session_id)
            conv = self.access.current(conn, row, now)
            if conv is None:
                joinable = self.access.joinable(conn, row, now)
                if joinable is None:
                    self.opening.admit(conn, row)
                    if admit is not None:
                        admit()
                    return self.opening.start(conn, row, profile_id, text, trusted, now)
                self.access.join(conn, row, joinable)
                row = live_session(conn, session_id)
                conv = conversations.get(conn, joinable["id"])
                assert conv is not None
            return self._add_message(conn, row, conv, text, trusted, now)

    def _add_message(
        self, conn: Tx, row: Row, conv: Row, text: str, trusted: bool, now: int
    ) -> SentMessage:
        """A customer message in a conversation the session may use."""
        item_id = self.timeline.insert_item(
            conn,
            conv["id"],
            type_="message",
            sender="customer",
            body=text,
            trusted=trusted,
            session_id=row["id"],
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
        self.timeline.update(conn, conv["id"], updates, items_added=1, requeue=not waiting)
        self.automation.apply(conn, "message", conv["id"], session_id=row["id"], message=text)
        assignee = None
        if conv["assignee_id"] is not None:
            assignee = agent_row(conn, conv["assignee_id"])["handle"]
        return SentMessage(
            item_id=item_id,
            conversation_id=int(conv["id"]),
            trusted=trusted,
            new_conversation=False,
            assignee=assignee,
        )

    def _anonymous_profile(self, conn: Tx, session_id: str, now: int) -> int:
        profile_id = profiles.insert(conn, "Anonymous visitor", now)
        widget_sessions.update(conn, session_id, {"profile_id": profile_id})
        return profile_id
