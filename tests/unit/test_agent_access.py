"""Agent accounts and the agent API's visibility rule in core, on both stores: tokens found
by their hash and refused once revoked or replaced, queue pages cut to what an agent may see,
and every read and action checked against the rule."""

from __future__ import annotations

import pytest

from core.engine import AgentScope, Engine
from core.errors import Conflict, NotFound
from core.identity.agent_tokens import agent_for_token, agent_still_signed_in
from core.setup import DeskAdmin
from core.store import Desk
from core.store.queue import QueueFilter, queue_count, queue_page
from tests.helpers import set_agents
from tests.unit.test_engine_actions import claimed


def unassigned(engine: Engine, desk: Desk, email: str, inbox: str | None = None) -> int:
    set_agents(desk, "available = 0")
    sent = engine.send_message(claimed(engine, email), "is anyone there?")
    set_agents(desk, "available = 1")
    assert sent.assignee is None
    if inbox is not None:
        engine.transfer(sent.conversation_id, "chen", to_inbox=inbox)
    return sent.conversation_id


def scope_of(engine: Engine, desk: Desk, token: str) -> AgentScope:
    account = agent_for_token(desk, token)
    assert account is not None
    return engine.agent_access.scope(account)


def test_tokens_are_found_by_hash_and_refused_once_replaced_or_revoked(desk: Desk) -> None:
    admin = DeskAdmin(desk)
    first = admin.issue_token("alice")
    account = agent_for_token(desk, first)
    assert account is not None and (account.handle, account.role) == ("alice", "agent")
    with pytest.raises(Conflict, match="--rotate"):
        admin.issue_token("alice")
    second = admin.issue_token("alice", rotate=True)
    assert agent_for_token(desk, first) is None
    assert agent_still_signed_in(desk, account) is None
    current = agent_for_token(desk, second)
    assert current is not None and agent_still_signed_in(desk, current) == current
    admin.disable_agent("alice")
    assert agent_for_token(desk, second) is None
    assert agent_still_signed_in(desk, current) is None
    kinds = [e.kind for e in desk.events_after(0, 1000) if e.kind.startswith("agent.token")]
    assert kinds == ["agent.token_issued", "agent.token_rotated", "agent.token_revoked"]
    admin.enable_agent("alice")
    assert agent_for_token(desk, second) is None
    for junk in ("", "gda_", "gda_" + "x" * 500, "gdk_abc", None, 5):
        assert agent_for_token(desk, junk) is None


def test_an_agent_sees_theirs_and_their_inboxes_unassigned(engine: Engine, desk: Desk) -> None:
    admin = DeskAdmin(desk)
    admin.set_agent("alice", {"inboxes": ["Chat"]})
    admin.set_agent("chen", {"role": "admin"})
    tokens = {h: admin.issue_token(h) for h in ("alice", "bruno", "chen")}
    in_chat = unassigned(engine, desk, "pat@example.com")
    in_billing = unassigned(engine, desk, "sam@example.com", "Billing")
    brunos = unassigned(engine, desk, "kim@example.com")
    engine.take(brunos, "bruno")
    alice, bruno, chen = (scope_of(engine, desk, tokens[h]) for h in ("alice", "bruno", "chen"))
    everything = {in_chat, in_billing, brunos}
    assert engine.agent_access.visible_conversations(alice, everything) == {in_chat}
    assert engine.agent_access.visible_conversations(bruno, everything) == everything
    assert engine.agent_access.visible_conversations(chen, everything) == everything
    mine_or_unassigned = QueueFilter()
    for who, expected in ((alice, [in_chat]), (bruno, [in_chat, in_billing, brunos])):
        page = queue_page(desk, who.queue(mine_or_unassigned), limit=50)
        assert sorted(row.id for row in page) == sorted(expected)
        assert queue_count(desk, who.queue(mine_or_unassigned)) == len(expected)
    in_billing_view = alice.queue(QueueFilter(inbox_id=engine.inbox_id("Billing")))
    assert queue_page(desk, in_billing_view, limit=50) == []
    mine = alice.queue(QueueFilter(agent_id=alice.agent_id))
    assert queue_page(desk, mine, limit=50) == []
    # Every read and action on bruno's conversation is NotFound for alice, and changes nothing.
    access = engine.agent_access
    for call in (
        lambda: access.conversation(alice, brunos),
        lambda: access.timeline(alice, brunos),
        lambda: access.act(alice, brunos, lambda: engine.reply(brunos, "alice", "hi")),
    ):
        with pytest.raises(NotFound, match=f"no conversation {brunos}"):
            call()
    assert [i.body for i in engine.timeline(brunos)][-1] != "hi"
    # Taking it, in an inbox she works: the engine says who has it.
    with pytest.raises(Conflict, match="already assigned to bruno"):
        access.take(alice, brunos)
    with pytest.raises(NotFound):
        access.take(alice, in_billing)
    access.take(alice, in_chat)
    assert engine.conversation(in_chat).assignee == "alice"
    profile = access.profile(alice, engine.conversation(in_chat).profile.id)
    assert [c.id for c in profile.conversations] == [in_chat]
    with pytest.raises(NotFound, match="no customer profile"):
        access.profile(alice, engine.conversation(brunos).profile.id)
