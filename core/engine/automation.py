"""Running the desk's rules (docs/rules.md): the facts they see, and their actions."""

from __future__ import annotations

from collections.abc import Iterable

from core.contacts import first_name
from core.engine.access import trusted_now
from core.engine.hooks import RuleAction, RuleFacts, Rules
from core.engine.timeline import Timeline
from core.store import Desk, Row, Tx, conversations, items, widget_sessions


class Automation:
    """Builds `RuleFacts`, asks the rules, and carries out what they return."""

    def __init__(self, desk: Desk, rules: Rules, timeline: Timeline) -> None:
        self.desk = desk
        self.rules = rules
        self.timeline = timeline

    def routing_actions(
        self, session: Row, text: str, trusted: bool, inbox: str
    ) -> list[RuleAction]:
        """What the routing rules say about a conversation this first message starts."""
        if not self.rules.wants("routing"):
            return []
        return self.rules.evaluate(
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

    def apply(
        self, conn: Tx, trigger: str, conversation_id: int, *, session_id: str, message: str
    ) -> None:
        """Rules on a later message or on authentication inside a routed conversation."""
        if not self.rules.wants(trigger):
            return
        session = widget_sessions.get(conn, session_id)
        assert session is not None  # the caller holds the live session in this transaction
        timing = None
        if trusted_now(session, self.desk.clock.now_ms()):
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
            first_message=items.first_customer_message(conn, conversation_id),
            message=message,
            inbox=conversations.inbox_name(conn, conversation_id),
            name=session["display_name"],
            first_name=first_name(session["display_name"]),
            conversation_id=conversation_id,
        )
        self.run(conn, conversation_id, self.rules.evaluate(facts), session_id=session_id)

    def run(
        self,
        conn: Tx,
        conversation_id: int,
        actions: Iterable[RuleAction],
        *,
        session_id: str | None,
    ) -> None:
        """Bot messages, login prompts and tags. Routing actions were used at routing time."""
        for action in actions:
            if action.kind == "bot_message":
                self.timeline.add_item(
                    conn,
                    conversation_id,
                    type_="message",
                    sender="bot",
                    body=action.value,
                    session_id=session_id,
                )
            elif action.kind == "login_prompt":
                self.timeline.login_prompt(conn, conversation_id, agent_id=None, sender="bot")
                self.timeline.update(conn, conversation_id, {}, items_added=2)
            elif action.kind == "tag":
                conversations.add_tag(self.desk, conn, conversation_id, action.value)
