"""What an agent signed in over the network may see and do (docs/agent-api.md#permissions).

An `admin` sees every conversation. An `agent` sees the conversations assigned to them and the
unassigned ones of the inboxes they work (every inbox when they have no inbox rows); any other
conversation does not exist for them: reads, actions and events answer as for an id no
conversation has. The rule is decided here, on the rows as they are at the moment of the call
(a check and the action it guards are one transaction), and nowhere else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from core.engine.agent_actions import AgentActions, conversation_row
from core.engine.reads import VIEW_REJECTIONS, DeskReads
from core.errors import NotFound
from core.models import ConversationView, PastConversation, ProfileView, RejectionNote, TimelineItem
from core.store import Desk, Event, Row, Tx, conversations
from core.store.agent_accounts import AgentAccount, worked_inbox_ids
from core.store.audit import conversation_rejections
from core.store.profiles import ProfileHit, search_profiles
from core.store.queue import QueueFilter
from core.store.search import MessageHit, search_messages
from core.store.timeline import timeline_page

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AgentScope:
    """Who is asking, as the rule needs them: read afresh for every request."""

    agent_id: int
    handle: str
    admin: bool
    #: The inboxes whose unassigned conversations they see; None: every inbox.
    inbox_ids: tuple[int, ...] | None

    def may_see(self, assignee_id: int | None, inbox_id: int) -> bool:
        if self.admin or assignee_id == self.agent_id:
            return True
        return assignee_id is None and self.works(inbox_id)

    def works(self, inbox_id: int) -> bool:
        return self.inbox_ids is None or inbox_id in self.inbox_ids

    def queue(self, queue: QueueFilter) -> QueueFilter:
        """`queue` cut down to what they may see (unchanged for an admin)."""
        if self.admin:
            return queue
        return dataclasses.replace(queue, visible_to=self.agent_id, visible_inboxes=self.inbox_ids)


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """A customer profile as the agent API's profile pane shows it."""

    profile: ProfileView
    #: Their conversations the agent may see, newest first.
    conversations: tuple[PastConversation, ...]
    #: The latest tokens rejected in the live sessions of their open conversations the agent
    #: may see, newest first (why the customer is not verified).
    rejections: tuple[RejectionNote, ...]


class AgentAccess:
    """Reads and actions of the agent API, each checked against `AgentScope.may_see`."""

    def __init__(self, desk: Desk, reads: DeskReads, actions: AgentActions) -> None:
        self.desk = desk
        self.reads = reads
        self.actions = actions

    def scope(self, account: AgentAccount) -> AgentScope:
        inboxes = None if account.admin else worked_inbox_ids(self.desk, account.id)
        return AgentScope(account.id, account.handle, account.admin, inboxes)

    def _visible(self, conn: Tx, scope: AgentScope, conversation_id: object) -> Row:
        conv = conversation_row(conn, conversation_id)
        if not scope.may_see(conv["assignee_id"], conv["inbox_id"]):
            raise NotFound(f"no conversation {conversation_id}")  # as for a missing one
        return conv

    # -- reads ----------------------------------------------------------------------------

    def conversation(self, scope: AgentScope, conversation_id: int) -> ConversationView:
        with self.desk.reading() as conn:
            self._visible(conn, scope, conversation_id)
            return self.reads.conversation(conversation_id)

    def timeline(
        self,
        scope: AgentScope,
        conversation_id: int,
        *,
        before_id: int | None = None,
        after_id: int | None = None,
        limit: int = 200,
    ) -> tuple[str, list[TimelineItem]]:
        """A page of the timeline (`core.store.timeline.timeline_page`) and the status."""
        with self.desk.reading() as conn:
            self._visible(conn, scope, conversation_id)
            return timeline_page(
                self.desk, conversation_id, before_id=before_id, after_id=after_id, limit=limit
            )

    def profile(self, scope: AgentScope, profile_id: int) -> AgentProfile:
        """A profile with at least one conversation the agent may see (NotFound otherwise)."""
        with self.desk.reading() as conn:
            placed = conversations.profile_placements(conn, profile_id)
            visible = {cid for cid, place in placed.items() if scope.may_see(*place)}
            if not scope.admin and not visible:
                raise NotFound(f"no customer profile {profile_id}")
            profile = self.reads.profile(profile_id)
            past = [p for p in self.reads.past_conversations(profile_id) if p.id in visible]
            notes = [
                RejectionNote(at=row["at"], code=row["code"], kid=row["kid"])
                for p in past
                if p.status != "CLOSED"
                for row in conversation_rejections(conn, p.id, VIEW_REJECTIONS)
            ]
        notes.sort(key=lambda note: note.at, reverse=True)
        return AgentProfile(profile, tuple(past), tuple(notes[:VIEW_REJECTIONS]))

    def search(
        self, scope: AgentScope, text: object, *, limit: int = 20
    ) -> tuple[list[ProfileHit], list[MessageHit]]:
        """Profiles (`search_profiles`) and messages (`search_messages`) matching `text`,
        only those the agent may see."""
        profiles = search_profiles(self.desk, text, limit=limit)
        messages = search_messages(self.desk, text, limit=limit)
        if scope.admin:
            return profiles, messages
        with self.desk.reading() as conn:
            placed = conversations.placements(conn, [m.conversation_id for m in messages])
            messages = [
                m
                for m in messages
                if m.conversation_id in placed and scope.may_see(*placed[m.conversation_id])
            ]
            profiles = [
                hit
                for hit in (self._profile_hit(conn, scope, hit) for hit in profiles)
                if hit is not None
            ]
        return profiles, messages

    @staticmethod
    def _profile_hit(conn: Tx, scope: AgentScope, hit: ProfileHit) -> ProfileHit | None:
        placed = conversations.profile_placements(conn, hit.id)
        visible = [cid for cid, place in placed.items() if scope.may_see(*place)]
        if not visible:
            return None
        if hit.latest_conversation_id in visible:
            return dataclasses.replace(hit, conversations=len(visible))
        return dataclasses.replace(
            hit, conversations=len(visible), latest_conversation_id=max(visible), latest_status=None
        )

    def visible_conversations(self, scope: AgentScope, ids: Iterable[int]) -> set[int]:
        """Those of `ids` the agent may see now."""
        wanted = set(ids)
        if not wanted:
            return set()
        with self.desk.reading() as conn:
            placed = conversations.placements(conn, wanted)
        return {cid for cid, place in placed.items() if scope.may_see(*place)}

    def concerns(self, scope: AgentScope, event: Event) -> bool:
        """Whether a change-feed row without a conversation is for this agent: about their
        own account (settings, availability, token), or a new inbox (a transfer target)."""
        if event.kind == "inbox.added":
            return True
        return event.kind.startswith("agent.") and event.agent_id == scope.agent_id

    # -- actions --------------------------------------------------------------------------

    def act(self, scope: AgentScope, conversation_id: int, action: Callable[[], T]) -> T:
        """Run `action` (an engine call as `scope`'s agent) if the agent may see the
        conversation, in one transaction with that check."""
        with self.desk.transaction() as conn:
            self._visible(conn, scope, conversation_id)
            return action()

    def take(self, scope: AgentScope, conversation_id: int) -> None:
        """Take a conversation. One already taken in an inbox the agent works is answered
        by the engine (Conflict naming who has it): they may have seen it unassigned a moment
        ago. Elsewhere the rule holds (NotFound)."""
        with self.desk.transaction() as conn:
            conv = conversation_row(conn, conversation_id)
            if not (
                scope.may_see(conv["assignee_id"], conv["inbox_id"])
                or scope.works(conv["inbox_id"])
            ):
                raise NotFound(f"no conversation {conversation_id}")
            self.actions.take(conversation_id, scope.handle)
