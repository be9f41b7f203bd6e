"""The engine's shared machinery: lookups, timeline items, conversation rows, routing, rules.

`core.engine.Engine` is `EngineBase` plus the widget sessions (`core.engine.sessions`), the agent
actions (`core.engine.agent_actions`) and the reads (`core.engine.reads`). Every public method of
the engine is one transaction and appends to the `events` change feed, so consoles and
servers sharing the database file see it. Times come from `desk.clock` (ms).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from core.contacts import first_name, first_refused
from core.engine.hooks import MAX_MESSAGE_CHARS, NoRules, RuleAction, RuleFacts, Rules
from core.errors import Conflict, DeskError, NotFound
from core.store import Desk, queue_key

if TYPE_CHECKING:
    from core.identity import Keyring

#: How long a conversation held for login by a rule waits before going to the default inbox.
DEFAULT_LOGIN_HOLD_S = 120
OPEN_STATUSES = ("OPEN", "WAITING")
#: What a message body may not hold: C0 controls but tab, newline and carriage return, and
#: lone surrogates (not Unicode text). Bidi and other text is the customer's to write.
_MESSAGE_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


class InvalidInput(DeskError):
    code = "invalid"


# -- helpers ------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """How bearer tokens (widget sessions, API users) are stored: 256-bit random strings, so
    a plain SHA-256 suffices. Lone surrogates from hostile input hash instead of raising."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


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
    if not text.isprintable():  # fast path: printable text has no controls or surrogates
        refused = first_refused(_MESSAGE_REFUSED, text)
        if refused is not None:
            raise InvalidInput(
                f"message: {refused}; remove it and send again (tab and newline are fine)"
            )
    return text


def render(template: str, **values: str) -> str:
    """Fill `{placeholder}`s; unknown placeholders and stray braces are left as written."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


def trusted_now(session: sqlite3.Row, now: int) -> bool:
    """Whether a widget session is TRUSTED and inside its trust window at `now`."""
    return session["identity_state"] == "TRUSTED" and (session["trusted_until"] or 0) > now


class EngineBase:
    """State and helpers every part of the engine uses."""

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

    def _agent_row(self, conn: sqlite3.Connection, agent_id: int) -> sqlite3.Row:
        return conn.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone()

    def first_app_id(self) -> str:
        """The first configured app, by id: the one to use when none is named."""
        row = self.desk.query_one("SELECT app_id FROM apps ORDER BY app_id LIMIT 1")
        if row is None:
            raise NotFound("the desk has no app configured")
        return str(row[0])

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

    def _pick_agent(
        self, conn: sqlite3.Connection, *, avoid: int | None, prefer: int | None = None
    ) -> sqlite3.Row | None:
        """The available agent with spare capacity and the fewest open conversations;
        `prefer` wins when it can take the chat, `avoid` loses when another can."""
        candidates = conn.execute(
            "SELECT id, handle, name FROM agents"
            " WHERE available = 1 AND open_conversations < capacity"
            " ORDER BY open_conversations, id"
        ).fetchall()
        for row in candidates:
            if prefer is not None and row["id"] == prefer and row["id"] != avoid:
                return row
        preferred = [r for r in candidates if r["id"] != avoid]
        pool = preferred or candidates
        return pool[0] if pool else None

    # -- the visibility rule (docs/trust-model.md) ------------------------------------------

    def _grant(
        self, conn: sqlite3.Connection, session_id: str, conversation_id: int, via: str
    ) -> None:
        """Let a session read and write a conversation: `started` or `trusted` (joined)."""
        conn.execute(
            "INSERT INTO session_access (session_id, conversation_id, via, granted_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (session_id, conversation_id) DO NOTHING",
            (session_id, conversation_id, via, self.now),
        )

    def _may_use(self, session: sqlite3.Row, conv: sqlite3.Row, now: int) -> bool:
        """A session reads and writes the conversations it started, plus, while TRUSTED, open
        conversations of its verified profile on its app in which trust was proven.

        `conv` comes from `_conversation_for`, with the session's access (`via`)."""
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

    def _conversation_for(
        self, conn: sqlite3.Connection, session_id: str, conversation_id: int
    ) -> sqlite3.Row | None:
        """A conversation with the session's access to it (`via`: started, trusted or None),
        in one read."""
        row: sqlite3.Row | None = conn.execute(
            "SELECT c.*, a.via FROM conversations c LEFT JOIN session_access a"
            " ON a.conversation_id = c.id AND a.session_id = ? WHERE c.id = ?",
            (session_id, conversation_id),
        ).fetchone()
        return row

    def _joinable(
        self, conn: sqlite3.Connection, session: sqlite3.Row, now: int
    ) -> sqlite3.Row | None:
        """The open conversation a TRUSTED session may join: its verified profile's latest,
        on its app, in which trust was proven (the customer on another device)."""
        if not trusted_now(session, now) or session["profile_id"] is None:
            return None
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM conversations WHERE profile_id = ? AND status != 'CLOSED'"
            " AND app_id = ? AND authenticated_at IS NOT NULL ORDER BY id DESC LIMIT 1",
            (session["profile_id"], session["app_id"]),
        ).fetchone()
        return row

    def _join(self, conn: sqlite3.Connection, session: sqlite3.Row, conv: sqlite3.Row) -> None:
        """A TRUSTED session joins its verified profile's open conversation."""
        session_id = session["id"]
        self._grant(conn, session_id, conv["id"], "trusted")
        conn.execute(
            "UPDATE widget_sessions SET conversation_id = ?, trust_late_in = ? WHERE id = ?",
            (conv["id"], conv["id"], session_id),
        )
        self._insert_item(
            conn,
            conv["id"],
            type_="event",
            sender="system",
            event="authenticated",
            body="Customer joined from another device, verified by a signed identity token",
            session_id=session_id,
        )
        self._update_conversation(
            conn,
            conv["id"],
            {
                "identity_state": "TRUSTED",
                "identity_source": "jwt",
                "trusted_until": session["trusted_until"],
            },
            items_added=1,
        )

    def _drop_trusted_access(self, conn: sqlite3.Connection, session_id: str) -> None:
        """End what trust alone gave a session (trust lapsed or was revoked)."""
        conn.execute(
            "UPDATE widget_sessions SET conversation_id = NULL WHERE id = ? AND conversation_id"
            " IN (SELECT conversation_id FROM session_access WHERE session_id = ? AND via = 'trusted')",
            (session_id, session_id),
        )
        conn.execute(
            "DELETE FROM session_access WHERE session_id = ? AND via = 'trusted'", (session_id,)
        )

    def _assigned_item(
        self, conn: sqlite3.Connection, conversation_id: int, agent: sqlite3.Row
    ) -> int:
        """The `assigned` timeline event (the caller counts it and sets the assignee)."""
        return self._insert_item(
            conn,
            conversation_id,
            type_="event",
            sender="system",
            event="assigned",
            body=f"Assigned to {agent['name']} ({agent['handle']})",
            agent_id=agent["id"],
        )

    def _assign(self, conn: sqlite3.Connection, conversation_id: int, agent: sqlite3.Row) -> None:
        self._assigned_item(conn, conversation_id, agent)
        self._update_conversation(
            conn, conversation_id, {"assignee_id": agent["id"]}, items_added=1
        )

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

    def _login_prompt(
        self, conn: sqlite3.Connection, conversation_id: int, *, agent_id: int | None, sender: str
    ) -> int:
        """The login-link message and its `login_prompt_sent` event (two items; caller counts)."""
        row = conn.execute(
            "SELECT app_id FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        app = self.app(row[0] or self.first_app_id())
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
        conv = self._conversation_for(conn, session_id, conversation_id)
        if conv is None or conv["status"] == "CLOSED" or conv["via"] is None:
            return  # closed, or never the session's to write in
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
            "SELECT i.name AS inbox FROM conversations c"
            " JOIN inboxes i ON i.id = c.inbox_id WHERE c.id = ?",
            (conversation_id,),
        ).fetchone()
        first = conn.execute(
            "SELECT body FROM items WHERE conversation_id = ? AND sender = 'customer'"
            " ORDER BY id LIMIT 1",
            (conversation_id,),
        ).fetchone()
        timing = None
        if trusted_now(session, self.now):
            # The current trust's timing: it began after routing in this conversation (a
            # login, a renewal after a lapse, another device joining) or before.
            late = session["trust_late_in"] == conversation_id
            timing = "after_routing" if late else "before_routing"
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
