"""Several processes writing one desk at once (server workers, servers on other machines):
routing never hands a chat out twice nor pushes an agent past capacity, and two agents taking
one chat from two processes end with one owner."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.errors import Conflict
from core.store import Desk
from tests.helpers import seed_desk

pytestmark = pytest.mark.slow
WRITERS = 4
CHATS_EACH = 12
CAPACITY = 5


def _open_chats(location: str, writer: int, state_dir: str) -> int:
    """One process: customers arriving and agents closing chats, as fast as it can."""
    import os

    os.environ["GLADDESK_STATE_DIR"] = state_dir
    from core.engine import Engine

    with Desk.open(location, create=False) as desk:
        engine = Engine(desk)
        opened = 0
        for n in range(CHATS_EACH):
            start = engine.init_session("shop")
            engine.submit_onboarding(
                start.session_id, name=f"W{writer} C{n}", email=f"w{writer}c{n}@example.com"
            )
            sent = engine.send_message(start.session_id, "hello")
            opened += 1
            if n % 3 == 2 and sent.assignee is not None:  # free a seat now and then
                engine.close(sent.conversation_id, sent.assignee, force=True)
        return opened


def _take(location: str, agent: str, conversation_id: int, state_dir: str) -> str:
    import os

    os.environ["GLADDESK_STATE_DIR"] = state_dir
    from core.engine import Engine

    with Desk.open(location, create=False) as desk:
        try:
            Engine(desk).take(conversation_id, agent)
            return "took"
        except Conflict as refused:
            return f"refused: {refused}"


def _loads_match_and_never_over(desk: Desk) -> None:
    rows = desk.query(
        "SELECT a.handle, a.open_conversations, a.capacity,"
        " (SELECT count(*) FROM conversations c"
        "  WHERE c.assignee_id = a.id AND c.status != 'CLOSED')"
        " FROM agents a ORDER BY a.id"
    )
    for handle, load, capacity, counted in rows:
        assert load == counted, f"{handle}: load {load}, {counted} open conversations"
        assert load <= capacity, f"{handle}: {load} open conversations, capacity {capacity}"


@pytest.fixture
def shared(desk_location: str | Path, tmp_path: Path) -> str:
    with Desk.open(desk_location, clock=ManualClock(1_795_000_000_000)) as desk:
        seed_desk(desk, capacity=CAPACITY)
    return str(desk_location)


def test_routing_from_several_processes_respects_capacity(shared: str, tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(WRITERS) as pool:
        opened = pool.starmap(
            _open_chats, [(shared, w, str(tmp_path / "state")) for w in range(WRITERS)]
        )
    assert sum(opened) == WRITERS * CHATS_EACH
    with Desk.open(shared, create=False) as desk:
        _loads_match_and_never_over(desk)
        # each chat was handed out once: one `assigned` timeline event per assignment
        twice = desk.query(
            "SELECT conversation_id FROM items WHERE type = 'event' AND event = 'assigned'"
            " GROUP BY conversation_id HAVING count(*) > 1"
        )
        assert twice == []
        waiting = desk.query_one(
            "SELECT count(*) FROM conversations WHERE assignee_id IS NULL AND status != 'CLOSED'"
        )
        assert waiting is not None
        seats = desk.query_one("SELECT sum(capacity - open_conversations) FROM agents")
        assert seats is not None
        assert waiting[0] == 0 or seats[0] == 0  # nobody waits while a seat is free


def test_two_agents_taking_one_chat_from_two_processes_leave_one_owner(
    shared: str, tmp_path: Path
) -> None:
    from core.engine import Engine

    with Desk.open(shared, create=False) as desk:
        engine = Engine(desk)
        with desk.transaction() as conn:  # nobody free: the next chats wait unassigned
            conn.execute("UPDATE agents SET available = 0")
        chats = []
        for n in range(6):
            start = engine.init_session("shop")
            engine.submit_onboarding(start.session_id, name=f"T {n}", email=f"t{n}@example.com")
            chats.append(engine.send_message(start.session_id, "hi").conversation_id)
        with desk.transaction() as conn:
            conn.execute("UPDATE agents SET available = 1")
    jobs = [
        (shared, agent, chat, str(tmp_path / "state"))
        for chat in chats
        for agent in ("alice", "bruno")
    ]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_take, jobs)
    for index in range(0, len(results), 2):
        pair = sorted(results[index : index + 2])
        assert pair[1] == "took" and pair[0].startswith("refused"), pair
    with Desk.open(shared, create=False) as desk:
        _loads_match_and_never_over(desk)
