"""Routing: who takes a conversation, when a held one goes out, and the queue to free agents."""

from __future__ import annotations

from typing import Any

from core.engine.directory import Directory
from core.engine.timeline import Timeline
from core.store import Desk, Row, Tx, conversations
from core.store import directory as agents

#: How many queued conversations `assign_queued` reads for each one it may assign.
QUEUE_SCAN = 20


class Routing:
    """Picks agents by load and assigns conversations; every write is in the caller's
    transaction, except the timers (`assign_queued` without one, `release_holds`)."""

    def __init__(self, desk: Desk, directory: Directory, timeline: Timeline) -> None:
        self.desk = desk
        self.directory = directory
        self.timeline = timeline

    def pick_agent(
        self,
        conn: Tx,
        *,
        avoid: int | None,
        prefer: int | None = None,
        inbox_id: int | None = None,
    ) -> Row | None:
        """The available agent with spare capacity and the fewest open conversations, among
        those who work `inbox_id` when given; `prefer` wins when it can take the chat,
        `avoid` loses when another can."""
        self.desk.lock_routing()
        candidates = agents.free_agents(conn, inbox_id)
        for row in candidates:
            if prefer is not None and row["id"] == prefer and row["id"] != avoid:
                return row
        preferred = [r for r in candidates if r["id"] != avoid]
        pool = preferred or candidates
        return pool[0] if pool else None

    def assign(
        self, conn: Tx, conversation_id: int, agent: Row, *, body: str | None = None
    ) -> None:
        """Give the conversation to `agent`, with an `assigned` event (`body`: its words)."""
        self.timeline.assigned(conn, conversation_id, agent, body=body)
        self.timeline.update(conn, conversation_id, {"assignee_id": agent["id"]}, items_added=1)

    @staticmethod
    def refusal(agent: Row) -> str | None:
        """Why `agent` (an agents row) cannot be given one more conversation, or None."""
        if agent["disabled"]:
            return f"{agent['handle']} is disabled"
        if not agent["available"]:
            return f"{agent['handle']} is unavailable"
        if agent["open_conversations"] >= agent["capacity"]:
            return (
                f"{agent['handle']} is at capacity"
                f" ({agent['open_conversations']} of {agent['capacity']} open conversations)"
            )
        return None

    def reopen_owner(
        self, conn: Tx, previous_id: int | None, reopener_id: int
    ) -> tuple[Row | None, str]:
        """Who has a conversation being reopened, and what its `reopened` event adds.

        The agent it had keeps it while available with spare capacity. Otherwise the agent
        reopening it takes it, or else the least-loaded free agent; with none free it waits
        unassigned for `assign_queued`. The words say who has it whenever that is not plain.
        """
        reason = None
        if previous_id is not None:
            previous = agents.agent_row(conn, previous_id)
            reason = self.refusal(previous)
            if reason is None:
                kept = "" if previous_id == reopener_id else f"it stays with {previous['handle']}"
                return previous, kept
        reopener = agents.agent_row(conn, reopener_id)
        owner = reopener if self.refusal(reopener) is None else None
        if owner is None:
            owner = self.pick_agent(conn, avoid=previous_id)
        if owner is None:
            waits = "no agent is free: it waits unassigned for the next free agent"
            return None, f"{reason} and {waits}" if reason else waits
        if reason is None and owner["id"] == reopener_id:
            return owner, ""
        goes = f"it goes to {owner['handle']}"
        return owner, f"{reason}, so {goes}" if reason else goes

    def route(self, conn: Tx, conversation_id: int, *, inbox_override: str | None = None) -> None:
        """Route a held conversation now (the customer logged in, or the hold timed out)."""
        self.desk.lock_routing()  # before the row's lock: an agent's close takes them so too
        updates: dict[str, Any] = {"routed_at": self.desk.clock.now_ms(), "hold_until": None}
        if inbox_override is not None:
            updates["inbox_id"] = self.directory.inbox_id(inbox_override)
        self.timeline.update(conn, conversation_id, updates)
        inbox_id = conversations.inbox_of(conn, conversation_id)
        agent = self.pick_agent(conn, avoid=None, inbox_id=inbox_id)
        if agent is not None:
            self.assign(conn, conversation_id, agent)

    def assign_queued(self, conn: Tx | None = None, *, limit: int = 50) -> int:
        """Give routed but unassigned open conversations, longest-waiting first, to agents
        with spare capacity. Runs when a close frees capacity, and on every `tick()`.
        """
        if conn is None:
            with self.desk.transaction() as conn:
                return self.assign_queued(conn, limit=limit)
        assigned = 0
        self.desk.lock_routing()
        if not agents.free_agents(conn):
            return assigned
        # Read past the first `limit`: those may all be in inboxes no free agent works.
        for conversation_id, inbox_id in conversations.queued(conn, limit * QUEUE_SCAN):
            agent = self.pick_agent(conn, avoid=None, inbox_id=inbox_id)
            if agent is None:  # nobody free works its inbox: it waits
                continue
            self.assign(conn, conversation_id, agent)
            assigned += 1
            if assigned >= limit or not agents.free_agents(conn):
                break
        return assigned

    def release_holds(self) -> list[int]:
        """Route every conversation whose login hold timed out to the default inbox."""
        with self.desk.reading() as conn:
            due = conversations.holds_due(conn, self.desk.clock.now_ms())
        for conversation_id in due:
            with self.desk.transaction() as conn:
                self.route(conn, conversation_id, inbox_override=self.directory.default_inbox())
        return due
