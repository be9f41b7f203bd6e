"""A customer's first message starts a conversation: rules pick inbox and hold, then the
least-loaded agent takes it. The row is written once with its final routing, then its items.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.addresses import address_group
from core.budgets import UNASSIGNED_SETTING
from core.engine.access import Access
from core.engine.automation import Automation
from core.engine.directory import Directory
from core.engine.hooks import RuleAction
from core.engine.routing import Routing
from core.engine.timeline import Timeline
from core.errors import NotFound, RateLimited
from core.models import SentMessage
from core.store import Desk, Row, Tx, conversations, queue_key, widget_sessions

#: How long a conversation held for login by a rule waits before going to the default inbox.
DEFAULT_LOGIN_HOLD_S = 120
#: What `Retry-After` says when an address has too many chats waiting for an agent.
UNASSIGNED_RETRY_S = 30


def _opened_from(session: Row) -> str | None:
    """The address a session's conversations count against (None: not counted)."""
    if session["api_user"] is not None:
        return None
    return address_group(session["client_address"])


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where a new conversation goes, decided before it is written."""

    inbox_id: int
    hold: bool
    actions: list[RuleAction]
    agent: Row | None
    other: Row | None  # another open chat of the same profile, from another session
    switched: bool  # the session switched identity (scenario 5)


class Opening:
    """Starts conversations (`start`), in the caller's transaction."""

    def __init__(
        self,
        desk: Desk,
        directory: Directory,
        timeline: Timeline,
        access: Access,
        routing: Routing,
        automation: Automation,
    ) -> None:
        self.desk = desk
        self.directory = directory
        self.timeline = timeline
        self.access = access
        self.routing = routing
        self.automation = automation

    def admit(self, conn: Tx, session: Row) -> None:
        """Refuse a new conversation while the session's address already has the app's
        `address_unassigned_max` of them waiting for an agent (docs/config.md#flood-budgets)."""
        opened_from = _opened_from(session)
        if opened_from is None:
            return
        bound = int(self.directory.app(session["app_id"])[UNASSIGNED_SETTING])
        if not bound:
            return
        waiting = conversations.unassigned_opened_from(
            conn, session["app_id"], opened_from, up_to=bound
        )
        if waiting >= bound:
            raise RateLimited(
                f"message: {bound} chats from this address are already waiting for an agent;"
                " try again once one is answered",
                retry_after_s=UNASSIGNED_RETRY_S,
                code="too_many_waiting",
            )

    def start(
        self, conn: Tx, session: Row, profile_id: int, text: str, trusted: bool, now: int
    ) -> SentMessage:
        """The first message of a chat, and everything that comes with it."""
        plan = self._plan(conn, session, profile_id, text, trusted)
        conversation_id = self._insert(conn, session, profile_id, text, trusted, plan, now)
        self.access.grant(conn, session["id"], conversation_id, "started")
        self.desk.emit(
            "conversation.created",
            at=now,
            conversation_id=conversation_id,
            session_id=session["id"],
            profile_id=profile_id,
        )
        item_id = self._first_items(conn, session, conversation_id, text, trusted, plan, now)
        if plan.hold:
            self.desk.emit("conversation.held", conversation_id=conversation_id)
        return SentMessage(
            item_id=item_id,
            conversation_id=conversation_id,
            trusted=trusted,
            new_conversation=True,
            assignee=plan.agent["handle"] if plan.agent is not None else None,
        )

    def _plan(self, conn: Tx, session: Row, profile_id: int, text: str, trusted: bool) -> _Plan:
        inbox = self.directory.default_inbox()
        actions = self.automation.routing_actions(session, text, trusted, inbox)
        hold = False
        for action in actions:
            if action.kind == "route":
                inbox = action.value
            elif action.kind == "require_login" and not trusted:
                hold = True
        try:
            inbox_id = self.directory.inbox_id(inbox)
        except NotFound:  # a rule names an inbox removed since the rules loaded
            inbox_id = self.directory.inbox_id(self.directory.default_inbox())
        # A switch of identity in this session (scenario 5): trust came about differently, and
        # the new person should get another agent than the previous one's when one is free.
        previous = session["previous_conversation_id"]
        switched = previous is not None
        avoid = conversations.assignee(conn, previous) if switched else None
        # Another open chat of the same profile (another session; it stays apart): the same
        # agent where possible, and the agent is told.
        other = conversations.latest_open(conn, profile_id)
        prefer = other["assignee_id"] if other is not None else None
        agent = (
            None
            if hold
            else self.routing.pick_agent(conn, avoid=avoid, prefer=prefer, inbox_id=inbox_id)
        )
        return _Plan(inbox_id, hold, actions, agent, other, switched)

    def _insert(
        self,
        conn: Tx,
        session: Row,
        profile_id: int,
        text: str,
        trusted: bool,
        plan: _Plan,
        now: int,
    ) -> int:
        trust_path = None
        if trusted:
            trust_path = "different_identity" if plan.switched else "before_routing"
        hold_until = None
        if plan.hold:
            hold_s = int(self.desk.setting("login_hold_s", str(DEFAULT_LOGIN_HOLD_S)) or 0)
            hold_until = now + hold_s * 1000
        claimed = session["identity_source"] != "jwt"
        return conversations.insert(
            conn,
            {
                "profile_id": profile_id,
                "app_id": session["app_id"],
                "inbox_id": plan.inbox_id,
                "assignee_id": plan.agent["id"] if plan.agent is not None else None,
                "status": "OPEN",
                "created_at": now,
                "updated_at": now,
                "routed_at": None if plan.hold else now,
                "hold_until": hold_until,
                "waiting_since": now,
                "queue_key": queue_key(now, now),
                "identity_state": session["identity_state"],
                "identity_source": session["identity_source"],
                "authenticated_at": now if trusted else None,
                "trust_path": trust_path,
                "last_customer_trusted": int(trusted),
                "last_preview": text[:200],
                "started_session_id": session["id"],
                "claimed_name": session["display_name"] if claimed else None,
                "trusted_until": session["trusted_until"] if trusted else None,
                "opened_from": _opened_from(session),
            },
        )

    def _first_items(
        self,
        conn: Tx,
        session: Row,
        conversation_id: int,
        text: str,
        trusted: bool,
        plan: _Plan,
        now: int,
    ) -> int:
        """The authentication mark, the message, the other-chat note, the rules' answers and
        the assignment, counted once; returns the message's item id."""
        session_id = session["id"]
        count = 0
        if trusted:
            self.timeline.event(
                conn,
                conversation_id,
                "authenticated",
                "Customer authenticated with a signed identity token before the chat started",
                session_id=session_id,
            )
            count += 1
        item_id = self.timeline.insert_item(
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
        widget_sessions.update(
            conn,
            session_id,
            {
                "conversation_id": conversation_id,
                "previous_conversation_id": None,
                "trust_late_in": None,
            },
        )
        if plan.other is not None:
            self.timeline.event(
                conn,
                conversation_id,
                "other_chat_open",
                f"This customer profile has another open chat (#{plan.other['id']}) from a"
                " separate widget session; the two are kept apart",
                session_id=session_id,
            )
            count += 1
        # Bot greetings, tags and login prompts answer the customer before assignment.
        self.automation.run(conn, conversation_id, plan.actions, session_id=session_id)
        if plan.agent is not None:
            self.timeline.assigned(conn, conversation_id, plan.agent)
            count += 1
        conversations.count_first_items(conn, conversation_id, count, item_id)
        return item_id
