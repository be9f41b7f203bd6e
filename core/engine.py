"""The conversation engine: widget sessions, identity, per-message trust, routing, agent actions.

Every public method is one transaction and appends to the `events` change feed, so consoles
and servers sharing the database file see it. Times come from `desk.clock` (ms).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from core.clock import iso
from core.contacts import first_name, normalize_email, normalize_name, normalize_phone
from core.errors import Conflict, DeskError, NotFound
from core.models import (
    ConversationView,
    PastConversation,
    ProfileView,
    SentMessage,
    SessionStart,
    SessionView,
    TimelineItem,
    WidgetEvent,
    glyph,
)
from core.store import Desk, queue_key

if TYPE_CHECKING:
    from core.identity import Keyring

#: Longest customer or agent message accepted, in characters (documented in the README).
MAX_MESSAGE_CHARS = 4000
#: How long a conversation held for login by a rule waits before going to the default inbox.
DEFAULT_LOGIN_HOLD_S = 120
OPEN_STATUSES = ("OPEN", "WAITING")


class InvalidInput(DeskError):
    code = "invalid"


# -- rules hook ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleFacts:
    """What a rule may look at. `trigger` is `routing`, `message` or `identity`."""

    trigger: str
    app_id: str
    identity_state: str
    identity_source: str
    trust_timing: str | None  # before_routing | after_routing | None (not trusted)
    first_message: str
    message: str
    inbox: str | None
    name: str | None
    first_name: str
    conversation_id: int | None


@dataclass(frozen=True, slots=True)
class RuleAction:
    """`bot_message` (templated text), `login_prompt`, `route` (inbox), `tag`, `require_login`."""

    kind: str
    value: str = ""


class Rules(Protocol):
    def wants(self, trigger: str) -> bool:
        """Whether any rule listens to this trigger (lets the engine skip building facts)."""
        ...

    def evaluate(self, facts: RuleFacts) -> list[RuleAction]: ...


class NoRules:
    def wants(self, trigger: str) -> bool:
        return False

    def evaluate(self, facts: RuleFacts) -> list[RuleAction]:
        return []


# -- helpers ------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_body(body: object) -> str:
    if not isinstance(body, str):
        raise InvalidInput("message: expected text")
    text = body.strip()
    if not text:
        raise InvalidInput("message: empty; type something first")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidInput(
            f"message: {len(text)} characters is over the limit of {MAX_MESSAGE_CHARS}"
        )
    return text


def render(template: str, **values: str) -> str:
    """Fill `{placeholder}`s; unknown placeholders and stray braces are left as written."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


class Engine:
    """The desk's behaviour. One per process (or per thread group) over an open `Desk`."""

    def __init__(
        self, desk: Desk, *, keyring: Keyring | None = None, rules: Rules | None = None
    ) -> None:
        self.desk = desk
        self._keyring = keyring
        if rules is None:
            # The desk's rules file (<db>.rules.toml), reloaded when it changes; a bad file
            # refuses to start with `file:line: reason`.
            from core.rules import rules_for_desk

            rules = rules_for_desk(desk)
        self.rules: Rules = rules if rules is not None else NoRules()
        self._apps: dict[str, sqlite3.Row] = {}
        self._agents_by_handle: dict[str, tuple[int, str]] = {}
        self._inboxes: dict[str, int] = {}

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            from core.identity import Keyring

            self._keyring = Keyring(self.desk)
        return self._keyring

    @property
    def now(self) -> int:
        return self.desk.clock.now_ms()

    # -- lookups ----------------------------------------------------------------------------

    def app(self, app_id: str) -> sqlite3.Row:
        row = self._apps.get(app_id)
        if row is None:
            row = self.desk.query_one("SELECT * FROM apps WHERE app_id = ?", (app_id,))
            if row is None:
                known = ", ".join(r[0] for r in self.desk.query("SELECT app_id FROM apps"))
                raise NotFound(f"app {app_id!r} is not configured (known: {known or 'none'})")
            self._apps[app_id] = row
        return row

    def agent_id(self, handle: str) -> int:
        found = self._agents_by_handle.get(handle)
        if found is None:
            row = self.desk.query_one("SELECT id, name FROM agents WHERE handle = ?", (handle,))
            if row is None:
                known = ", ".join(self.agent_handles())
                raise NotFound(f"no agent {handle!r} (known: {known or 'none'})")
            found = self._agents_by_handle[handle] = (row[0], row[1])
        return found[0]

    def agent_handles(self) -> list[str]:
        return [r[0] for r in self.desk.query("SELECT handle FROM agents ORDER BY handle")]

    def inbox_id(self, name: str) -> int:
        """Inbox ids are cached: inboxes are added, never renamed or removed."""
        found = self._inboxes.get(name)
        if found is None:
            row = self.desk.query_one("SELECT id FROM inboxes WHERE name = ?", (name,))
            if row is None:
                known = ", ".join(
                    r[0] for r in self.desk.query("SELECT name FROM inboxes ORDER BY id")
                )
                raise NotFound(f"no inbox {name!r} (known: {known})")
            found = self._inboxes[name] = int(row[0])
        return found

    def default_inbox(self) -> str:
        configured = self.desk.setting("default_inbox")
        if configured:
            return configured
        row = self.desk.query_one("SELECT name FROM inboxes ORDER BY id LIMIT 1")
        if row is None:
            raise NotFound("the desk has no inbox; add one first")
        return str(row[0])

    def _session_row(self, conn: sqlite3.Connection | None, session_id: object) -> sqlite3.Row:
        """The live session's row (`conn` inside a transaction, None for a one-off read)."""
        if not isinstance(session_id, str) or not session_id:
            raise NotFound("session: expected a session id")
        sql = "SELECT * FROM widget_sessions WHERE id = ?"
        if conn is None:
            row = self.desk.query_one(sql, (session_id,))
        else:
            row = conn.execute(sql, (session_id,)).fetchone()
        if row is None:
            raise NotFound(f"no widget session {session_id!r}")
        if row["ended_at"] is not None:
            raise Conflict(f"widget session {session_id!r} has ended; start a new one with init")
        return row

    def session_for_token(self, token: str) -> str:
        """The session id a widget bearer token belongs to (HTTP API auth)."""
        row = self.desk.query_one(
            "SELECT id FROM widget_sessions WHERE token_hash = ?", (hash_token(token),)
        )
        if row is None:
            raise NotFound("unknown or expired widget session token")
        return str(row[0])

    # -- widget sessions ----------------------------------------------------------------------

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
            self._identify(
                conn,
                row,
                name=clean_name,
                email=contact if field == "email" else None,
                phone=contact if field == "phone" else None,
                state="CLAIMED",
                source="onboarding_form",
            )
            return self._session_view(self._session_row(conn, session_id))

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
            self._identify(
                conn,
                row,
                name=clean_name,
                email=clean_email,
                phone=clean_phone,
                state="CLAIMED",
                source="set_user",
            )
            return self._session_view(self._session_row(conn, session_id))

    def _set_user_jwt(self, session_id: str, token: object, *, client_name: object) -> SessionView:
        if not isinstance(token, str):
            raise InvalidInput("set_user: jwt must be a string")
        # Check the session first: a token for a dead session is not even looked at. The
        # verifier writes its audit row in its own transaction, so it runs outside ours.
        row = self._session_row(None, session_id)
        identity = self.keyring.verify(
            token, session_id=session_id, client_address=row["client_address"]
        )
        with self.desk.transaction() as conn:
            row = self._session_row(conn, session_id)
            # Signed claims win; then the profile's own name; a client-sent name only names a
            # profile created now.
            fallback = None
            if isinstance(client_name, str) and client_name.strip():
                fallback = normalize_name(client_name)
            self._identify(
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
            return self._session_view(self._session_row(conn, session_id))

    def _find_profile(
        self, conn: sqlite3.Connection, email: str | None, phone: str | None
    ) -> sqlite3.Row | None:
        if email is not None:
            sql = (
                "SELECT p.* FROM profile_emails e JOIN profiles p ON p.id = e.profile_id"
                " WHERE e.email = ?"
            )
            return conn.execute(sql, (email,)).fetchone()
        sql = (
            "SELECT p.* FROM profile_phones f JOIN profiles p ON p.id = f.profile_id"
            " WHERE f.phone = ?"
        )
        return conn.execute(sql, (phone,)).fetchone()

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
    ) -> None:
        now = self.now
        session_id = row["id"]
        profile_id, profile_name = self._profile_for(conn, name or new_profile_name, email, phone)
        display = name or profile_name
        same_person = row["profile_id"] == profile_id
        conversation_id = row["conversation_id"]
        if not same_person and conversation_id is not None:
            # A different person on the same widget: nothing carries across (scenario 5).
            conversation_id = None
        was_trusted_now = row["identity_state"] == "TRUSTED" and (row["trusted_until"] or 0) > now
        if state == "CLAIMED" and same_person and row["identity_state"] == "TRUSTED":
            # A plain setUser never lowers nor raises trust for the person already proven.
            state, source = row["identity_state"], row["identity_source"]
        trusted_until = None
        if state == "TRUSTED":
            window_s = self.app(row["app_id"])["trust_window_s"]
            trusted_until = now + int(window_s) * 1000
            if source != "jwt":
                trusted_until = row["trusted_until"]
        conn.execute(
            "UPDATE widget_sessions SET profile_id = ?, identity_state = ?, identity_source = ?,"
            " display_name = ?, trusted_until = ?, trusted_kid = coalesce(?, trusted_kid),"
            " expiry_notified = 0, conversation_id = ? WHERE id = ?",
            (
                profile_id,
                state,
                source,
                display,
                trusted_until,
                kid,
                conversation_id,
                session_id,
            ),
        )
        self.desk.emit("session.identified", at=now, session_id=session_id, profile_id=profile_id)
        if conversation_id is None:
            return
        conv = conn.execute(
            "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if conv is None or conv["status"] == "CLOSED":
            return
        becomes_trusted = state == "TRUSTED" and source == "jwt" and not was_trusted_now
        updates: dict[str, Any] = {"identity_state": state, "identity_source": source}
        if becomes_trusted:
            self._insert_item(
                conn,
                conversation_id,
                type_="event",
                sender="system",
                event="authenticated",
                body="Customer authenticated with a signed identity token"
                + (" after the chat was routed" if conv["routed_at"] is not None else ""),
                session_id=session_id,
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
            self._apply_rules(conn, "identity", conversation_id, session_id=session_id, message="")

    def clear_user(self, session_id: str) -> SessionView:
        """Logout: back to ANONYMOUS; the session loses all access to the previous chat."""
        with self.desk.transaction() as conn:
            row = self._session_row(conn, session_id)
            conversation_id = row["conversation_id"]
            conn.execute(
                "UPDATE widget_sessions SET profile_id = NULL, identity_state = 'ANONYMOUS',"
                " identity_source = 'none', display_name = NULL, trusted_until = NULL,"
                " trusted_kid = NULL, expiry_notified = 0, conversation_id = NULL WHERE id = ?",
                (session_id,),
            )
            self._identity_event(
                conn,
                conversation_id,
                event="identity_cleared",
                body="Customer logged out; the widget no longer has access to this chat",
                session_id=session_id,
                identity_state="ANONYMOUS",
            )
            self.desk.emit("session.cleared", session_id=session_id)
            return self._session_view(self._session_row(conn, session_id))

    def end_session(self, session_id: str) -> None:
        with self.desk.transaction() as conn:
            self._session_row(conn, session_id)
            conn.execute(
                "UPDATE widget_sessions SET ended_at = ? WHERE id = ?", (self.now, session_id)
            )
            self.desk.emit("session.ended", session_id=session_id)

    def _identity_event(
        self,
        conn: sqlite3.Connection,
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
        status = conn.execute(
            "SELECT status FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if status is None or status[0] == "CLOSED":
            return
        self._insert_item(
            conn,
            conversation_id,
            type_="event",
            sender="system",
            event=event,
            body=body,
            session_id=session_id,
        )
        self._update_conversation(
            conn, conversation_id, {"identity_state": identity_state}, items_added=1
        )

    # -- trust window --------------------------------------------------------------------------

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

    def _lapse(self, conn: sqlite3.Connection, row: sqlite3.Row, now: int) -> bool:
        if row["identity_state"] != "TRUSTED" or (row["trusted_until"] or 0) > now:
            return False
        conn.execute(
            "UPDATE widget_sessions SET identity_state = 'CLAIMED', expiry_notified = 1"
            " WHERE id = ?",
            (row["id"],),
        )
        self._identity_event(
            conn,
            row["conversation_id"],
            event="trust_expired",
            body="Trust window ended; new messages are not verified until the customer"
            " logs in again",
            session_id=row["id"],
            identity_state="CLAIMED",
        )
        self.desk.emit("session.expired", at=now, session_id=row["id"])
        return True

    # -- customer messages -----------------------------------------------------------------------

    def send_message(self, session_id: str, body: object) -> SentMessage:
        """A customer message. Its `trusted` flag is decided now and stored once."""
        text = check_body(body)
        with self.desk.transaction() as conn:
            row = self._session_row(conn, session_id)
            now = self.now
            if row["identity_state"] == "TRUSTED" and (row["trusted_until"] or 0) <= now:
                self._lapse(conn, row, now)
                row = self._session_row(conn, session_id)
            trusted = row["identity_state"] == "TRUSTED" and (row["trusted_until"] or 0) > now
            profile_id = row["profile_id"]
            if profile_id is None:
                app = self.app(row["app_id"])
                if app["onboarding_enabled"]:
                    raise Conflict(
                        "message: introduce yourself first (onboarding form, setUser or login)"
                    )
                profile_id = self._anonymous_profile(conn, session_id)
            conv = None
            if row["conversation_id"] is not None:
                conv = conn.execute(
                    "SELECT * FROM conversations WHERE id = ?", (row["conversation_id"],)
                ).fetchone()
                if conv["status"] == "CLOSED":
                    conv = None
            if conv is None:
                conv = conn.execute(
                    "SELECT * FROM conversations WHERE profile_id = ? AND status != 'CLOSED'"
                    " ORDER BY id DESC LIMIT 1",
                    (profile_id,),
                ).fetchone()
                if conv is None:
                    return self._new_conversation(conn, row, profile_id, text, trusted, now)
                conn.execute(
                    "UPDATE widget_sessions SET conversation_id = ? WHERE id = ?",
                    (conv["id"], session_id),
                )
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
        switched = conn.execute(
            "SELECT 1 FROM events WHERE session_id = ? AND kind = 'session.identified'"
            " AND profile_id != ? LIMIT 1",
            (session_id, profile_id),
        ).fetchone()
        avoid = self._previous_agent(conn, session) if switched else None
        agent = None if hold else self._pick_agent(conn, avoid=avoid)
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
            " last_customer_trusted, last_preview)"
            " VALUES (?, ?, ?, ?, 'OPEN', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )
        conversation_id = int(cursor.lastrowid or 0)
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
            "UPDATE widget_sessions SET conversation_id = ? WHERE id = ?",
            (conversation_id, session_id),
        )
        # Bot greetings, tags and login prompts answer the customer before assignment.
        self._run_actions(conn, conversation_id, actions, session_id=session_id)
        if agent is not None:
            self._insert_item(
                conn,
                conversation_id,
                type_="event",
                sender="system",
                event="assigned",
                body=f"Assigned to {agent['name']} ({agent['handle']})",
                agent_id=agent["id"],
            )
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
        """The agent of this session's previous conversation (to avoid after an identity switch)."""
        previous = conn.execute(
            "SELECT c.assignee_id FROM events e JOIN conversations c ON c.id = e.conversation_id"
            " WHERE e.session_id = ? AND e.kind = 'conversation.created'"
            " ORDER BY e.id DESC LIMIT 1",
            (session["id"],),
        ).fetchone()
        return previous[0] if previous else None

    def _route(
        self,
        conn: sqlite3.Connection,
        conversation_id: int,
        *,
        inbox_override: str | None = None,
    ) -> None:
        """Route a held conversation now (the customer logged in, or the hold timed out)."""
        updates: dict[str, Any] = {"routed_at": self.now, "hold_until": None}
        if inbox_override is not None:
            updates["inbox_id"] = self.inbox_id(inbox_override)
        self._update_conversation(conn, conversation_id, updates)
        agent = self._pick_agent(conn, avoid=None)
        if agent is not None:
            self._assign(conn, conversation_id, agent)

    def _pick_agent(self, conn: sqlite3.Connection, *, avoid: int | None) -> sqlite3.Row | None:
        """The available agent with spare capacity and the fewest open conversations."""
        candidates = conn.execute(
            "SELECT id, handle, name FROM agents"
            " WHERE available = 1 AND open_conversations < capacity"
            " ORDER BY open_conversations, id"
        ).fetchall()
        preferred = [r for r in candidates if r["id"] != avoid]
        pool = preferred or candidates
        return pool[0] if pool else None

    def _assign(self, conn: sqlite3.Connection, conversation_id: int, agent: sqlite3.Row) -> None:
        self._insert_item(
            conn,
            conversation_id,
            type_="event",
            sender="system",
            event="assigned",
            body=f"Assigned to {agent['name']} ({agent['handle']})",
            agent_id=agent["id"],
        )
        self._update_conversation(
            conn, conversation_id, {"assignee_id": agent["id"]}, items_added=1
        )

    # -- rules --------------------------------------------------------------------------------

    def _apply_rules(
        self,
        conn: sqlite3.Connection,
        trigger: str,
        conversation_id: int,
        *,
        session_id: str,
        message: str,
    ) -> None:
        """Rules on a later message or on authentication inside a routed conversation."""
        if not self.rules.wants(trigger):
            return
        session = conn.execute(
            "SELECT * FROM widget_sessions WHERE id = ?", (session_id,)
        ).fetchone()
        conv = conn.execute(
            "SELECT c.trust_path, i.name AS inbox FROM conversations c"
            " JOIN inboxes i ON i.id = c.inbox_id WHERE c.id = ?",
            (conversation_id,),
        ).fetchone()
        first = conn.execute(
            "SELECT body FROM items WHERE conversation_id = ? AND sender = 'customer'"
            " ORDER BY id LIMIT 1",
            (conversation_id,),
        ).fetchone()
        trusted_now = (
            session["identity_state"] == "TRUSTED" and (session["trusted_until"] or 0) > self.now
        )
        timing = None
        if trusted_now:
            timing = "after_routing" if conv["trust_path"] == "after_routing" else "before_routing"
        facts = RuleFacts(
            trigger=trigger,
            app_id=session["app_id"],
            identity_state=session["identity_state"],
            identity_source=session["identity_source"],
            trust_timing=timing,
            first_message=first[0] if first else "",
            message=message,
            inbox=conv["inbox"],
            name=session["display_name"],
            first_name=first_name(session["display_name"]),
            conversation_id=conversation_id,
        )
        actions = self.rules.evaluate(facts)
        self._run_actions(conn, conversation_id, actions, session_id=session_id)

    def _run_actions(
        self,
        conn: sqlite3.Connection,
        conversation_id: int,
        actions: Iterable[RuleAction],
        *,
        session_id: str | None,
    ) -> None:
        """Bot messages, login prompts and tags. Routing actions were used at routing time."""
        for action in actions:
            if action.kind == "bot_message":
                self._add_item(
                    conn,
                    conversation_id,
                    type_="message",
                    sender="bot",
                    body=action.value,
                    session_id=session_id,
                )
            elif action.kind == "login_prompt":
                self._login_prompt(conn, conversation_id, agent_id=None, sender="bot")
                self._update_conversation(conn, conversation_id, {}, items_added=2)
            elif action.kind == "tag":
                conn.execute(
                    "INSERT OR IGNORE INTO conversation_tags (conversation_id, tag) VALUES (?, ?)",
                    (conversation_id, action.value),
                )
                self.desk.touch(conversation_id)

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

    def assign_queued(self, conn: sqlite3.Connection | None = None, *, limit: int = 50) -> int:
        """Give routed but unassigned open conversations, longest-waiting first, to agents
        with spare capacity. Runs when a close frees capacity, and on every `tick()`.
        """
        if conn is None:
            with self.desk.transaction() as conn:
                return self.assign_queued(conn, limit=limit)
        assigned = 0
        queued = conn.execute(
            "SELECT id FROM conversations WHERE assignee_id IS NULL AND status != 'CLOSED'"
            " AND routed_at IS NOT NULL ORDER BY queue_key, id LIMIT ?",
            (limit,),
        ).fetchall()
        for (conversation_id,) in queued:
            agent = self._pick_agent(conn, avoid=None)
            if agent is None:
                break
            self._assign(conn, conversation_id, agent)
            assigned += 1
        return assigned

    def tick(self) -> None:
        """Timers: lapse trust windows, release login holds, hand queued chats to free agents.
        Servers and the demo call this about once a second.
        """
        self.expire_trust()
        self.release_holds()
        self.assign_queued()

    # -- items and conversation rows -------------------------------------------------------------

    def _insert_item(
        self,
        conn: sqlite3.Connection,
        conversation_id: int,
        *,
        type_: str,
        sender: str,
        body: str,
        event: str | None = None,
        trusted: bool | None = None,
        agent_id: int | None = None,
        session_id: str | None = None,
        at: int | None = None,
    ) -> int:
        """Append a timeline item and its change-feed row; the caller updates the conversation."""
        now = self.now if at is None else at
        cursor = conn.execute(
            "INSERT INTO items (conversation_id, type, sender, event, body, at, trusted, agent_id,"
            " session_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                type_,
                sender,
                event,
                body,
                now,
                None if trusted is None else int(trusted),
                agent_id,
                session_id,
            ),
        )
        item_id = int(cursor.lastrowid or 0)
        self.desk.emit(
            "item.created",
            at=now,
            conversation_id=conversation_id,
            item_id=item_id,
            session_id=session_id,
            agent_id=agent_id,
        )
        return item_id

    def _add_item(self, conn: sqlite3.Connection, conversation_id: int, **item: Any) -> int:
        """`_insert_item` plus the conversation's item count and activity time."""
        item_id = self._insert_item(conn, conversation_id, **item)
        self._update_conversation(conn, conversation_id, {}, items_added=1)
        return item_id

    def _update_conversation(
        self,
        conn: sqlite3.Connection,
        conversation_id: int,
        updates: dict[str, Any],
        *,
        items_added: int = 0,
        requeue: bool = True,
    ) -> None:
        """One UPDATE: the given columns, activity time, item count and queue position.

        `requeue=False` when the queue position cannot change (a customer already waiting).
        """
        now = self.now
        assignments = [f"{column} = ?" for column in updates]
        params: list[Any] = list(updates.values())
        if items_added:
            assignments.append("item_count = item_count + ?")
            params.append(items_added)
        # Queue order follows the new waiting_since (SQLite's SET sees the old row).
        if "waiting_since" in updates:
            waiting = updates["waiting_since"]
            assignments.append("queue_key = ?")
            params.append(queue_key(waiting, now))
        elif requeue:
            assignments.append(
                "queue_key = CASE WHEN waiting_since IS NULL THEN ? ELSE waiting_since END"
            )
            params.append(queue_key(None, now))
        conn.execute(
            f"UPDATE conversations SET {', '.join(assignments)}, updated_at = ? WHERE id = ?",
            (*params, now, conversation_id),
        )
        self.desk.touch(conversation_id)

    # -- agent actions ---------------------------------------------------------------------------

    def _conversation_row(self, conn: sqlite3.Connection, conversation_id: object) -> sqlite3.Row:
        if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
            raise InvalidInput("conversation: expected a numeric id")
        conv = conn.execute(
            "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if conv is None:
            raise NotFound(f"no conversation {conversation_id}")
        return conv

    def _open_conversation(self, conn: sqlite3.Connection, conversation_id: object) -> sqlite3.Row:
        conv = self._conversation_row(conn, conversation_id)
        if conv["status"] == "CLOSED":
            raise Conflict(f"conversation {conversation_id} is closed; reopen it first")
        return conv

    def reply(self, conversation_id: int, agent: str, body: object) -> int:
        """An agent message. The conversation then waits on the customer."""
        text = check_body(body)
        agent_id = self.agent_id(agent)
        with self.desk.transaction() as conn:
            conv = self._open_conversation(conn, conversation_id)
            if conv["assignee_id"] is None:
                self._assign(conn, conversation_id, self._agent_row(conn, agent_id))
            item_id = self._insert_item(
                conn, conversation_id, type_="message", sender="agent", body=text, agent_id=agent_id
            )
            self._update_conversation(
                conn, conversation_id, {"status": "WAITING", "waiting_since": None}, items_added=1
            )
            return item_id

    def _agent_row(self, conn: sqlite3.Connection, agent_id: int) -> sqlite3.Row:
        return conn.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone()

    def send_login_prompt(self, conversation_id: int, agent: str) -> int:
        """A message carrying the app's login link, recorded as a login prompt."""
        agent_id = self.agent_id(agent)
        with self.desk.transaction() as conn:
            conv = self._open_conversation(conn, conversation_id)
            item_id = self._login_prompt(conn, conv["id"], agent_id=agent_id, sender="agent")
            self._update_conversation(
                conn, conversation_id, {"status": "WAITING", "waiting_since": None}, items_added=2
            )
            return item_id

    def _login_prompt(
        self, conn: sqlite3.Connection, conversation_id: int, *, agent_id: int | None, sender: str
    ) -> int:
        """The login-link message and its `login_prompt_sent` event (two items; caller counts)."""
        row = conn.execute(
            "SELECT app_id FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        app = self.app(row[0] or self._any_app())
        item_id = self._insert_item(
            conn,
            conversation_id,
            type_="message",
            sender=sender,
            body=f"Please log in so we can verify it's you: {app['login_url']}",
            agent_id=agent_id,
        )
        self._insert_item(
            conn,
            conversation_id,
            type_="event",
            sender="system",
            event="login_prompt_sent",
            body="Login prompt sent",
            agent_id=agent_id,
        )
        return item_id

    def _any_app(self) -> str:
        row = self.desk.query_one("SELECT app_id FROM apps ORDER BY app_id LIMIT 1")
        if row is None:
            raise NotFound("the desk has no app configured")
        return str(row[0])

    def transfer(
        self,
        conversation_id: int,
        agent: str,
        *,
        to_agent: str | None = None,
        to_inbox: str | None = None,
    ) -> None:
        """Move a conversation to another agent and/or inbox."""
        if to_agent is None and to_inbox is None:
            raise InvalidInput("transfer: name an agent or an inbox to transfer to")
        self.agent_id(agent)
        target_agent = self.agent_id(to_agent) if to_agent is not None else None
        target_inbox = self.inbox_id(to_inbox) if to_inbox is not None else None
        with self.desk.transaction() as conn:
            conv = self._open_conversation(conn, conversation_id)
            updates: dict[str, Any] = {}
            parts = []
            if target_inbox is not None and target_inbox != conv["inbox_id"]:
                updates["inbox_id"] = target_inbox
                parts.append(f"inbox {to_inbox}")
                if target_agent is None:
                    updates["assignee_id"] = None
            if target_agent is not None and target_agent != conv["assignee_id"]:
                updates["assignee_id"] = target_agent
                parts.append(f"agent {to_agent}")
            if not updates:
                raise Conflict("transfer: the conversation is already there")
            self._insert_item(
                conn,
                conversation_id,
                type_="event",
                sender="system",
                event="transferred",
                body=f"Transferred by {agent} to " + " and ".join(parts),
                agent_id=self.agent_id(agent),
            )
            self._update_conversation(conn, conversation_id, updates, items_added=1)

    def close(self, conversation_id: int, agent: str, *, force: bool = False) -> None:
        """Close; a customer still waiting for a reply needs `force`."""
        agent_id = self.agent_id(agent)
        with self.desk.transaction() as conn:
            conv = self._open_conversation(conn, conversation_id)
            if conv["waiting_since"] is not None and not force:
                raise Conflict(
                    f"conversation {conversation_id}: the customer is waiting for a reply;"
                    " close with force to close anyway"
                )
            self._insert_item(
                conn,
                conversation_id,
                type_="event",
                sender="system",
                event="closed",
                body=f"Closed by {agent}" + (" while the customer waited" if force else ""),
                agent_id=agent_id,
            )
            self._update_conversation(
                conn,
                conversation_id,
                {"status": "CLOSED", "waiting_since": None, "closed_at": self.now},
                items_added=1,
            )
            self.desk.emit("conversation.closed", conversation_id=conversation_id)
            self.assign_queued(conn, limit=1)

    def reopen(self, conversation_id: int, agent: str) -> None:
        agent_id = self.agent_id(agent)
        with self.desk.transaction() as conn:
            conv = self._conversation_row(conn, conversation_id)
            if conv["status"] != "CLOSED":
                raise Conflict(f"conversation {conversation_id} is not closed")
            other = conn.execute(
                "SELECT id FROM conversations WHERE profile_id = ? AND status != 'CLOSED'",
                (conv["profile_id"],),
            ).fetchone()
            if other is not None:
                raise Conflict(
                    f"conversation {conversation_id}: the customer already has open conversation"
                    f" {other[0]}"
                )
            self._insert_item(
                conn,
                conversation_id,
                type_="event",
                sender="system",
                event="reopened",
                body=f"Reopened by {agent}",
                agent_id=agent_id,
            )
            self._update_conversation(
                conn,
                conversation_id,
                {"status": "WAITING", "closed_at": None, "assignee_id": agent_id},
                items_added=1,
            )
            self.desk.emit("conversation.reopened", conversation_id=conversation_id)

    # -- reads ------------------------------------------------------------------------------------

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
            identity_state=conv["identity_state"],
            identity_source=conv["identity_source"],
            trust_path=conv["trust_path"],
            authenticated_at=conv["authenticated_at"],
            created_at=conv["created_at"],
            updated_at=conv["updated_at"],
            routed_at=conv["routed_at"],
            waiting_since=conv["waiting_since"],
            last_customer_trusted=None if last is None else bool(last),
            tags=tags,
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

    # -- what the widget sees ----------------------------------------------------------------------

    def session_timeline(self, session_id: str) -> list[TimelineItem]:
        """The current conversation's messages as the customer sees them (no internal events)."""
        with self.desk.reading() as conn:
            row = self._session_row(conn, session_id)
        if row["conversation_id"] is None:
            return []
        return [item for item in self.timeline(row["conversation_id"]) if item.type == "message"]

    def widget_events(
        self, session_id: str, *, after: int = 0, limit: int = 200
    ) -> list[WidgetEvent]:
        """What the widget of this session receives after change-feed id `after`.

        Only the session's current conversation is visible: after clear_user, nothing of the
        previous customer's chat reaches it.
        """
        with self.desk.reading() as conn:
            row = self._session_row(conn, session_id)
            conversation_id = row["conversation_id"]
            events = conn.execute(
                "SELECT e.id, e.kind, e.at, e.conversation_id, e.item_id, e.session_id,"
                " i.sender, i.body, i.type"
                " FROM events e LEFT JOIN items i ON i.id = e.item_id"
                " WHERE e.id > ? AND (e.session_id = ? OR (e.conversation_id = ?"
                "   AND e.kind IN ('item.created', 'conversation.closed', 'conversation.reopened')))"
                " ORDER BY e.id LIMIT ?",
                (after, session_id, -1 if conversation_id is None else conversation_id, limit),
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

    # -- export ---------------------------------------------------------------------------------

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
