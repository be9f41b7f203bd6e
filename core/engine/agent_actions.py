"""What agents do to a conversation: reply, login prompt, take, transfer, close, reopen."""

from __future__ import annotations

from typing import Any

from core.engine.directory import Directory
from core.engine.routing import Routing
from core.engine.text import InvalidInput, check_body
from core.engine.timeline import Timeline
from core.errors import Conflict, NotFound
from core.store import Desk, Row, Tx, conversations
from core.store.directory import agent_row


def conversation_row(conn: Tx, conversation_id: object) -> Row:
    """A conversation by id, checked: a number, and one that exists."""
    if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
        raise InvalidInput("conversation: expected a numeric id")
    conv = conversations.get(conn, conversation_id)
    if conv is None:
        raise NotFound(f"no conversation {conversation_id}")
    return conv


def open_conversation(conn: Tx, conversation_id: object) -> Row:
    conv = conversation_row(conn, conversation_id)
    if conv["status"] == "CLOSED":
        raise Conflict(f"conversation {conversation_id} is closed; reopen it first")
    return conv


class AgentActions:
    """Agent actions; each is one transaction with a timeline item and a change-feed row."""

    def __init__(
        self, desk: Desk, directory: Directory, timeline: Timeline, routing: Routing
    ) -> None:
        self.desk = desk
        self.directory = directory
        self.timeline = timeline
        self.routing = routing

    def reply(self, conversation_id: int, agent: str, body: object) -> int:
        """An agent message. The conversation then waits on the customer."""
        text = check_body(body)
        agent_id = self.directory.agent_id(agent)
        with self.desk.transaction() as conn:
            self.desk.lock_routing()
            conv = open_conversation(conn, conversation_id)
            if conv["assignee_id"] is None:
                self.routing.assign(conn, conversation_id, agent_row(conn, agent_id))
            item_id = self.timeline.insert_item(
                conn, conversation_id, type_="message", sender="agent", body=text, agent_id=agent_id
            )
            self.timeline.update(
                conn, conversation_id, {"status": "WAITING", "waiting_since": None}, items_added=1
            )
            return item_id

    def send_login_prompt(self, conversation_id: int, agent: str) -> int:
        """A message carrying the app's login link, recorded as a login prompt."""
        agent_id = self.directory.agent_id(agent)
        with self.desk.transaction() as conn:
            conv = open_conversation(conn, conversation_id)
            item_id = self.timeline.login_prompt(
                conn, conv["id"], agent_id=agent_id, sender="agent"
            )
            self.timeline.update(
                conn, conversation_id, {"status": "WAITING", "waiting_since": None}, items_added=2
            )
            return item_id

    def take(self, conversation_id: int, agent: str) -> None:
        """The agent assigns an open conversation no agent has to themselves.

        Refused (Conflict, nothing written) when another agent has it (two agents taking the
        same one: the first wins), when it is held for the customer to log in, and when the
        agent is unavailable or at capacity, as routing would refuse them.
        """
        agent_id = self.directory.agent_id(agent)
        with self.desk.transaction() as conn:
            self.desk.lock_routing()
            conv = open_conversation(conn, conversation_id)
            holder = conv["assignee_id"]
            if holder == agent_id:
                raise Conflict(f"conversation {conversation_id} is already yours")
            if holder is not None:
                raise Conflict(
                    f"conversation {conversation_id} is already assigned to"
                    f" {agent_row(conn, holder)['handle']}; ask them to transfer it to you"
                )
            if conv["routed_at"] is None:
                raise Conflict(
                    f"conversation {conversation_id} is held for the customer to log in"
                    f"{self._hold_left(conv)}; it goes to an agent when they do or the hold ends"
                )
            taker = agent_row(conn, agent_id)
            refusal = self.routing.refusal(taker)
            if refusal is not None:
                raise Conflict(f"conversation {conversation_id}: {refusal}; it stays unassigned")
            self.routing.assign(
                conn,
                conversation_id,
                taker,
                body=f"Taken by {taker['name']} ({taker['handle']})",
            )

    def _hold_left(self, conv: Row) -> str:
        until = conv["hold_until"]
        if until is None:
            return ""
        minutes = max(1, -(-(until - self.desk.clock.now_ms()) // 60_000))
        return f" (at most {minutes} more minute{'s' if minutes != 1 else ''})"

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
        agent_id = self.directory.agent_id(agent)
        target_agent = self.directory.agent_id(to_agent) if to_agent is not None else None
        target_inbox = self.directory.inbox_id(to_inbox) if to_inbox is not None else None
        with self.desk.transaction() as conn:
            self.desk.lock_routing()
            conv = open_conversation(conn, conversation_id)
            if target_agent is not None and agent_row(conn, target_agent)["disabled"]:
                raise Conflict(f"transfer: agent {to_agent!r} is disabled; pick another agent")
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
            self.timeline.event(
                conn,
                conversation_id,
                "transferred",
                f"Transferred by {agent} to " + " and ".join(parts),
                agent_id=agent_id,
            )
            self.timeline.update(conn, conversation_id, updates, items_added=1)

    def close(self, conversation_id: int, agent: str, *, force: bool = False) -> None:
        """Close; a customer still waiting for a reply needs `force`."""
        agent_id = self.directory.agent_id(agent)
        with self.desk.transaction() as conn:
            self.desk.lock_routing()
            conv = open_conversation(conn, conversation_id)
            if conv["waiting_since"] is not None and not force:
                raise Conflict(
                    f"conversation {conversation_id}: the customer is waiting for a reply;"
                    " close with force to close anyway"
                )
            self.timeline.event(
                conn,
                conversation_id,
                "closed",
                f"Closed by {agent}" + (" while the customer waited" if force else ""),
                agent_id=agent_id,
            )
            self.timeline.update(
                conn,
                conversation_id,
                {"status": "CLOSED", "waiting_since": None, "closed_at": self.desk.clock.now_ms()},
                items_added=1,
            )
            self.desk.emit("conversation.closed", conversation_id=conversation_id)
            self.routing.assign_queued(conn, limit=1)

    def reopen(self, conversation_id: int, agent: str) -> None:
        """Reopen a closed conversation (the customer has no other open one).

        It stays with its agent when they can take it; otherwise the `reopened` event says
        who has it now (see `Routing.reopen_owner`), followed by an `assigned` event.
        """
        agent_id = self.directory.agent_id(agent)
        with self.desk.transaction() as conn:
            self.desk.lock_routing()
            conv = conversation_row(conn, conversation_id)
            if conv["status"] != "CLOSED":
                raise Conflict(f"conversation {conversation_id} is not closed")
            other = conversations.any_open(conn, conv["profile_id"])
            if other is not None:
                raise Conflict(
                    f"conversation {conversation_id}: the customer already has open conversation"
                    f" {other}"
                )
            previous = conv["assignee_id"]
            owner, note = self.routing.reopen_owner(conn, previous, agent_id)
            self.timeline.event(
                conn,
                conversation_id,
                "reopened",
                f"Reopened by {agent}" + (f"; {note}" if note else ""),
                agent_id=agent_id,
            )
            kept = owner is not None and owner["id"] == previous
            updates: dict[str, Any] = {
                "status": "WAITING",
                "closed_at": None,
                "assignee_id": previous if kept else None,
            }
            if conv["routed_at"] is None:  # closed while held for login: it is worked on now
                updates.update(routed_at=self.desk.clock.now_ms(), hold_until=None)
            self.timeline.update(conn, conversation_id, updates, items_added=1)
            if owner is not None and not kept:
                self.routing.assign(conn, conversation_id, owner)
            self.desk.emit("conversation.reopened", conversation_id=conversation_id)
