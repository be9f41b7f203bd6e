"""Taking work: `take` (assign to me), reopen keeping its agent, the Unassigned queue."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.engine import Engine
from core.errors import Conflict, DeskError, NotFound
from core.store import Desk
from core.store.directory import agents
from core.store.queue import InvalidQuery, QueueFilter, queue_page
from tests.helpers import one_row, seed_desk, set_agents
from tests.unit.test_engine_actions import claimed, snapshot


def unassigned_chat(engine: Engine, desk: Desk, email: str = "pat@example.com") -> int:
    """A routed open conversation no agent has: everyone was away when it came in."""
    set_agents(desk, "available = 0")
    sent = engine.send_message(claimed(engine, email), "is anyone there?")
    assert sent.assignee is None
    set_agents(desk, "available = 1")
    return sent.conversation_id


def events(engine: Engine, conversation_id: int) -> list[tuple[str | None, str]]:
    return [(i.event, i.body) for i in engine.timeline(conversation_id) if i.type == "event"]


# -- take -------------------------------------------------------------------------------------


def test_take_assigns_an_unassigned_chat_to_the_agent(engine: Engine, desk: Desk) -> None:
    conv = unassigned_chat(engine, desk)
    engine.take(conv, "bruno")
    assert engine.conversation(conv).assignee == "bruno"
    assert events(engine, conv)[-1] == ("assigned", "Taken by Bruno Agent (bruno)")
    load = {a.handle: a.open_conversations for a in agents(desk)}
    assert load == {"alice": 0, "bruno": 1, "chen": 0}
    feed = one_row(
        desk,
        "SELECT count(*) FROM events WHERE kind = 'item.created' AND conversation_id = ?",
        (conv,),
    )
    assert feed[0] == len(engine.timeline(conv))  # every item reached the change feed


def test_take_is_refused_with_a_reason_and_changes_nothing(engine: Engine, desk: Desk) -> None:
    mine = engine.send_message(claimed(engine, "sam@example.com"), "hello").conversation_id
    closed = engine.send_message(claimed(engine, "kim@example.com"), "bye").conversation_id
    engine.close(closed, "alice", force=True)
    conv = unassigned_chat(engine, desk)
    set_agents(desk, "capacity = 1", ("chen",))
    engine.transfer(mine, "alice", to_agent="chen")  # chen: 1 of 1
    set_agents(desk, "available = 0", ("bruno",))
    before = snapshot(desk)
    refused = [
        (lambda: engine.take(mine, "chen"), Conflict, "already yours"),
        (lambda: engine.take(mine, "alice"), Conflict, "already assigned to chen; ask them"),
        (lambda: engine.take(closed, "alice"), Conflict, "closed; reopen it first"),
        (lambda: engine.take(conv, "chen"), Conflict, r"chen is at capacity \(1 of 1 open"),
        (lambda: engine.take(conv, "bruno"), Conflict, "bruno is unavailable"),
        (lambda: engine.take(conv, "zed"), NotFound, "no agent 'zed'"),
        (lambda: engine.take(999, "alice"), NotFound, "no conversation 999"),
        (lambda: engine.take("1; --", "alice"), DeskError, "expected a numeric id"),  # type: ignore[arg-type]
        (lambda: engine.take(True, "alice"), DeskError, "expected a numeric id"),  # type: ignore[arg-type]
    ]
    for call, error, message in refused:
        with pytest.raises(error, match=message):
            call()
    assert snapshot(desk) == before


def test_a_chat_held_for_login_cannot_be_taken(engine: Engine, desk: Desk) -> None:
    conv = engine.send_message(claimed(engine, "pat@example.com"), "hi").conversation_id
    with desk.transaction() as conn:  # as a require_login rule holds it
        conn.execute(
            "UPDATE conversations SET assignee_id = NULL, routed_at = NULL, hold_until = ?"
            " WHERE id = ?",
            (desk.clock.now_ms() + 240_000, conv),
        )
    before = snapshot(desk)
    with pytest.raises(Conflict, match=r"held for the customer to log in \(at most 4 more"):
        engine.take(conv, "alice")
    assert snapshot(desk) == before


def test_two_agents_taking_the_same_chat_at_once_one_wins(tmp_path: Path) -> None:
    """Two processes' worth of desks on one file, both taking every unassigned chat."""
    clock = ManualClock(1_795_000_000_000)
    path = tmp_path / "race.db"
    with Desk.open(path, clock=clock) as desk:
        seed_desk(desk, capacity=100)
        engine = Engine(desk)
        chats = [unassigned_chat(engine, desk, f"c{n}@example.com") for n in range(20)]
    outcomes: dict[str, list[tuple[int, str]]] = {"alice": [], "bruno": []}
    start = threading.Barrier(2)

    def take_all(handle: str) -> None:
        with Desk.open(path, clock=clock, create=False) as desk:
            engine = Engine(desk)
            start.wait()
            for conv in chats:
                try:
                    engine.take(conv, handle)
                    outcomes[handle].append((conv, "won"))
                except Conflict as exc:
                    outcomes[handle].append((conv, str(exc)))

    threads = [threading.Thread(target=take_all, args=(h,)) for h in outcomes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with Desk.open(path, clock=clock, create=False) as desk:
        engine = Engine(desk)
        for n, conv in enumerate(chats):
            results = {h: outcomes[h][n][1] for h in outcomes}
            winners = [h for h, result in results.items() if result == "won"]
            assert len(winners) == 1, results
            loser = next(h for h in outcomes if h not in winners)
            assert f"already assigned to {winners[0]}" in results[loser]
            assert engine.conversation(conv).assignee == winners[0]
            taken = [e for e in events(engine, conv) if e[0] == "assigned"]
            assert len(taken) == 1
        load = {a.handle: a.open_conversations for a in agents(desk)}
        won = {h: sum(r == "won" for _, r in outcomes[h]) for h in outcomes}
        assert load == {**won, "chen": 0}


# -- reopen -----------------------------------------------------------------------------------


def closed_chat_of(engine: Engine, agent: str, email: str = "pat@example.com") -> int:
    sent = engine.send_message(claimed(engine, email), "help")
    conv = sent.conversation_id
    if sent.assignee != agent:
        engine.transfer(conv, sent.assignee or agent, to_agent=agent)
    engine.close(conv, agent, force=True)
    return conv


def test_reopen_by_another_agent_keeps_the_assignee(engine: Engine) -> None:
    conv = closed_chat_of(engine, "alice")
    engine.reopen(conv, "bruno")
    view = engine.conversation(conv)
    assert (view.status, view.assignee) == ("WAITING", "alice")
    assert events(engine, conv)[-1] == ("reopened", "Reopened by bruno; it stays with alice")


def test_reopen_by_its_own_agent_says_nothing_more(engine: Engine) -> None:
    conv = closed_chat_of(engine, "alice")
    engine.reopen(conv, "alice")
    assert engine.conversation(conv).assignee == "alice"
    assert events(engine, conv)[-1] == ("reopened", "Reopened by alice")


def test_reopen_when_the_assignee_is_at_capacity_goes_to_the_reopener(
    engine: Engine, desk: Desk
) -> None:
    conv = closed_chat_of(engine, "alice")
    set_agents(desk, "capacity = 0", ("alice",))
    engine.reopen(conv, "bruno")
    assert engine.conversation(conv).assignee == "bruno"
    assert events(engine, conv)[-2:] == [
        (
            "reopened",
            "Reopened by bruno; alice is at capacity (0 of 0 open conversations),"
            " so it goes to bruno",
        ),
        ("assigned", "Assigned to Bruno Agent (bruno)"),
    ]


def test_reopen_when_neither_can_take_it_goes_to_a_free_agent(engine: Engine, desk: Desk) -> None:
    conv = closed_chat_of(engine, "alice")
    set_agents(desk, "available = 0", ("alice",))
    set_agents(desk, "capacity = 0", ("bruno",))
    engine.reopen(conv, "bruno")
    assert engine.conversation(conv).assignee == "chen"
    assert (
        events(engine, conv)[-2][1] == "Reopened by bruno; alice is unavailable, so it goes to chen"
    )


def test_reopen_with_no_agent_free_waits_unassigned_then_is_handed_out(
    engine: Engine, desk: Desk
) -> None:
    conv = closed_chat_of(engine, "alice")
    set_agents(desk, "available = 0")
    engine.reopen(conv, "bruno")
    assert engine.conversation(conv).assignee is None
    assert events(engine, conv)[-1] == (
        "reopened",
        "Reopened by bruno; alice is unavailable and no agent is free: it waits unassigned"
        " for the next free agent",
    )
    rows = queue_page(desk, QueueFilter(unassigned=True))
    assert [r.id for r in rows] == [conv]
    set_agents(desk, "available = 1", ("chen",))
    assert engine.assign_queued() == 1
    assert engine.conversation(conv).assignee == "chen"


def test_reopen_of_an_unassigned_chat_goes_to_the_reopener(engine: Engine, desk: Desk) -> None:
    sent = engine.send_message(claimed(engine, "pat@example.com"), "help")
    engine.transfer(sent.conversation_id, "alice", to_inbox="Billing")  # to the inbox, no agent
    engine.close(sent.conversation_id, "alice", force=True)
    engine.reopen(sent.conversation_id, "bruno")
    assert engine.conversation(sent.conversation_id).assignee == "bruno"
    assert events(engine, sent.conversation_id)[-2:] == [
        ("reopened", "Reopened by bruno"),
        ("assigned", "Assigned to Bruno Agent (bruno)"),
    ]


# -- the Unassigned queue -----------------------------------------------------------------------


def test_the_unassigned_queue_lists_only_chats_no_agent_has(engine: Engine, desk: Desk) -> None:
    first = unassigned_chat(engine, desk, "a@example.com")
    engine.send_message(claimed(engine, "b@example.com"), "assigned one")
    second = unassigned_chat(engine, desk, "c@example.com")
    rows = queue_page(desk, QueueFilter(unassigned=True))
    assert [r.id for r in rows] == [first, second]
    assert all(r.assignee is None and not r.held for r in rows)
    engine.take(first, "alice")
    assert [r.id for r in queue_page(desk, QueueFilter(unassigned=True))] == [second]
    with pytest.raises(InvalidQuery, match="agent or unassigned, not both"):
        QueueFilter(unassigned=True, agent_id=1)
    with pytest.raises(InvalidQuery, match="unassigned must be true or false"):
        QueueFilter(unassigned="yes")  # type: ignore[arg-type]


def test_agents_carry_their_load_and_capacity(engine: Engine, desk: Desk) -> None:
    engine.send_message(claimed(engine, "a@example.com"), "hi")
    set_agents(desk, "capacity = 1, available = 0", ("chen",))
    entries = {a.handle: a for a in agents(desk)}
    assert (entries["alice"].open_conversations, entries["alice"].capacity) == (1, 5)
    assert not entries["alice"].at_capacity
    assert not entries["chen"].available and entries["chen"].capacity == 1
