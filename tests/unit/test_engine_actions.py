"""Routing, agent actions and hostile input to the engine: clear errors, nothing changed."""

from __future__ import annotations

import pytest

from core.clock import ManualClock
from core.contacts import InvalidContact
from core.engine import MAX_MESSAGE_CHARS, Engine
from core.errors import Conflict, DeskError, NotFound
from core.store import Desk


def claimed(engine: Engine, email: str, name: str = "Pat Doe") -> str:
    start = engine.init_session("shop")
    engine.submit_onboarding(start.session_id, name=name, email=email)
    return start.session_id


def snapshot(desk: Desk) -> tuple:
    """Everything a failed call must leave alone."""
    tables = ("widget_sessions", "conversations", "items", "profiles", "events", "profile_emails")
    return tuple(
        tuple(tuple(row) for row in desk.query(f"SELECT * FROM {table} ORDER BY 1"))
        for table in tables
    )


def test_routing_picks_the_least_loaded_agent(engine: Engine) -> None:
    handles = [
        engine.send_message(claimed(engine, f"c{n}@example.com"), "hi").assignee for n in range(6)
    ]
    assert handles == ["alice", "bruno", "chen", "alice", "bruno", "chen"]


def test_a_claim_gets_its_own_chat_with_the_same_agent(engine: Engine) -> None:
    """A claimed session never joins another session's chat of the same profile: it gets its
    own, routed to the same agent, and the agent is told the other one is open."""
    first = engine.send_message(claimed(engine, "pat@example.com"), "hello")
    claimed(engine, "other@example.com")
    again = engine.send_message(claimed(engine, "pat@example.com"), "me again, new tab")
    assert again.new_conversation and again.conversation_id != first.conversation_id
    assert again.assignee == first.assignee
    events = [i.event for i in engine.timeline(again.conversation_id) if i.type == "event"]
    assert "other_chat_open" in events
    first_items = engine.timeline(first.conversation_id)
    assert [i.body for i in first_items if i.sender == "customer"] == ["hello"]


def test_capacity_and_availability_are_respected(engine: Engine, desk: Desk) -> None:
    with desk.transaction() as conn:
        conn.execute("UPDATE agents SET capacity = 1")
        conn.execute("UPDATE agents SET available = 0 WHERE handle = 'chen'")
    assignees = [
        engine.send_message(claimed(engine, f"c{n}@example.com"), "hi").assignee for n in range(3)
    ]
    assert assignees == ["alice", "bruno", None]


def test_reply_transfer_close_reopen(engine: Engine) -> None:
    sent = engine.send_message(claimed(engine, "pat@example.com"), "help")
    conv = sent.conversation_id
    assert engine.conversation(conv).status == "OPEN"
    assert engine.conversation(conv).customer_waiting
    engine.reply(conv, "alice", "On it")
    assert engine.conversation(conv).status == "WAITING"
    engine.transfer(conv, "alice", to_agent="bruno")
    assert engine.conversation(conv).assignee == "bruno"
    engine.transfer(conv, "bruno", to_inbox="Billing")
    view = engine.conversation(conv)
    assert (view.inbox, view.assignee) == ("Billing", None)
    engine.close(conv, "bruno")
    assert engine.conversation(conv).status == "CLOSED"
    engine.reopen(conv, "chen")
    assert (engine.conversation(conv).status, engine.conversation(conv).assignee) == (
        "WAITING",
        "chen",
    )
    kinds = [i.event for i in engine.timeline(conv) if i.type == "event"]
    assert kinds == ["assigned", "transferred", "transferred", "closed", "reopened", "assigned"]


def test_close_needs_force_while_the_customer_waits(engine: Engine, desk: Desk) -> None:
    sent = engine.send_message(claimed(engine, "pat@example.com"), "anyone?")
    before = snapshot(desk)
    with pytest.raises(Conflict, match="waiting for a reply"):
        engine.close(sent.conversation_id, "alice")
    assert snapshot(desk) == before
    engine.close(sent.conversation_id, "alice", force=True)
    assert engine.conversation(sent.conversation_id).status == "CLOSED"


def test_customer_message_after_close_starts_a_new_conversation(engine: Engine) -> None:
    session = claimed(engine, "pat@example.com")
    first = engine.send_message(session, "one")
    engine.close(first.conversation_id, "alice", force=True)
    second = engine.send_message(session, "two")
    assert second.new_conversation and second.conversation_id != first.conversation_id


def test_widget_receives_agent_messages_and_conversation_events(engine: Engine) -> None:
    session = claimed(engine, "pat@example.com")
    sent = engine.send_message(session, "hello")
    engine.reply(sent.conversation_id, "alice", "Hi Pat")
    engine.close(sent.conversation_id, "alice")
    events = engine.widget_events(session)
    assert [e.kind for e in events] == [
        "conversation:started",
        "message:received",
        "conversation:ended",
    ]
    assert events[1].data["body"] == "Hi Pat"
    assert engine.widget_events(session, after=events[-1].id) == []


def test_onboarding_by_phone_when_the_app_asks_for_it(engine: Engine, desk: Desk) -> None:
    with desk.transaction() as conn:
        conn.execute("UPDATE apps SET onboarding_identity = 'phone'")
    engine.directory.forget()
    start = engine.init_session("shop")
    assert start.onboarding_identity == "phone"
    with pytest.raises(DeskError, match="asks for a phone"):
        engine.submit_onboarding(start.session_id, name="Pat", email="pat@example.com")
    view = engine.submit_onboarding(start.session_id, name="Pat", phone="+33 6 12 34 56 78")
    assert engine.find_profile("+33612345678").id == view.profile_id


@pytest.mark.parametrize(
    "body",
    ["", "   \n\t ", "x" * (MAX_MESSAGE_CHARS + 1), None, 42, ["list"]],
    ids=["empty", "blank", "oversized", "none", "number", "list"],
)
def test_bad_messages_are_refused_and_change_nothing(
    engine: Engine, desk: Desk, body: object
) -> None:
    session = claimed(engine, "pat@example.com")
    sent = engine.send_message(session, "first")
    before = snapshot(desk)
    with pytest.raises(DeskError, match="message"):
        engine.send_message(session, body)
    with pytest.raises(DeskError, match="message"):
        engine.reply(sent.conversation_id, "alice", body)
    assert snapshot(desk) == before


def test_a_message_at_the_limit_is_accepted(engine: Engine) -> None:
    session = claimed(engine, "pat@example.com")
    assert engine.send_message(session, "x" * MAX_MESSAGE_CHARS).item_id


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"name": "Pat", "email": "not-an-email"}, InvalidContact),
        ({"name": "Pat", "email": "pat@@example.com"}, InvalidContact),
        ({"name": "", "email": "pat@example.com"}, InvalidContact),
        ({"name": "x" * 500, "email": "pat@example.com"}, InvalidContact),
        ({"name": "Pat", "email": 12}, InvalidContact),
        ({"name": "Pat", "email": "a@example.com", "phone": "+14155550123"}, DeskError),
        ({"name": "Pat"}, DeskError),
        ({"name": "Pat", "phone": "555-0123"}, InvalidContact),
        ({"name": "Pat", "phone": "+1 555"}, InvalidContact),
        ({"name": "Pat", "phone": "+999999999999"}, InvalidContact),
    ],
)
def test_bad_identities_are_refused_and_change_nothing(
    engine: Engine, desk: Desk, fields: dict, error: type[Exception]
) -> None:
    start = engine.init_session("shop")
    before = snapshot(desk)
    with pytest.raises(error):
        engine.set_user(start.session_id, **fields)
    if "phone" not in fields or "email" in fields:
        with pytest.raises(DeskError):
            engine.submit_onboarding(start.session_id, **fields)
    assert snapshot(desk) == before


def test_unknown_and_ended_sessions(engine: Engine, desk: Desk) -> None:
    with pytest.raises(NotFound):
        engine.send_message("ws_nope", "hello")
    with pytest.raises(NotFound):
        engine.set_user("", name="Pat", email="pat@example.com")
    with pytest.raises(NotFound):
        engine.init_session("no-such-app")
    session = claimed(engine, "pat@example.com")
    engine.end_session(session)
    before = snapshot(desk)
    for call in (
        lambda: engine.send_message(session, "hello?"),
        lambda: engine.clear_user(session),
        lambda: engine.set_user(session, name="Pat", email="pat@example.com"),
        lambda: engine.end_session(session),
    ):
        with pytest.raises(Conflict, match="has ended"):
            call()
    assert snapshot(desk) == before


def test_actions_on_closed_conversations_and_missing_targets(engine: Engine, desk: Desk) -> None:
    sent = engine.send_message(claimed(engine, "pat@example.com"), "hi")
    conv = sent.conversation_id
    before = snapshot(desk)
    with pytest.raises(NotFound, match="no agent 'zed'"):
        engine.transfer(conv, "alice", to_agent="zed")
    with pytest.raises(NotFound, match="no inbox 'Nowhere'"):
        engine.transfer(conv, "alice", to_inbox="Nowhere")
    with pytest.raises(DeskError, match="name an agent or an inbox"):
        engine.transfer(conv, "alice")
    with pytest.raises(NotFound, match="no conversation 999"):
        engine.reply(999, "alice", "hello")
    with pytest.raises(NotFound, match="known: alice, bruno, chen"):
        engine.reply(conv, "mallory", "hello")
    with pytest.raises(Conflict, match="not closed"):
        engine.reopen(conv, "alice")
    assert snapshot(desk) == before
    engine.close(conv, "alice", force=True)
    before = snapshot(desk)
    for call in (
        lambda: engine.reply(conv, "alice", "late reply"),
        lambda: engine.send_login_prompt(conv, "alice"),
        lambda: engine.transfer(conv, "alice", to_agent="bruno"),
        lambda: engine.close(conv, "alice", force=True),
    ):
        with pytest.raises(Conflict, match="closed"):
            call()
    assert snapshot(desk) == before


def test_onboarding_twice_is_refused(engine: Engine) -> None:
    session = claimed(engine, "pat@example.com")
    with pytest.raises(Conflict, match="already identified"):
        engine.submit_onboarding(session, name="Pat", email="other@example.com")


def test_set_user_claimed_never_raises_trust(engine: Engine) -> None:
    start = engine.init_session("shop")
    view = engine.set_user(start.session_id, name="Julie", email="julie@example.com")
    assert view.identity_state == "CLAIMED" and view.identity_source == "set_user"
    assert not engine.send_message(start.session_id, "hello").trusted


def test_anonymous_chat_when_onboarding_is_off(engine: Engine, desk: Desk) -> None:
    with desk.transaction() as conn:
        conn.execute("UPDATE apps SET onboarding_enabled = 0")
    engine.directory.forget()
    start = engine.init_session("shop")
    assert not start.onboarding_required
    sent = engine.send_message(start.session_id, "just browsing")
    assert not sent.trusted and sent.assignee == "alice"


def test_times_come_from_the_clock(engine: Engine, clock: ManualClock) -> None:
    sent = engine.send_message(claimed(engine, "pat@example.com"), "hi")
    [item] = [i for i in engine.timeline(sent.conversation_id) if i.sender == "customer"]
    assert item.at == clock.now_ms()


def test_queued_conversations_go_to_the_agent_whose_close_frees_capacity(
    engine: Engine, desk: Desk
) -> None:
    with desk.transaction() as conn:
        conn.execute("UPDATE agents SET capacity = 1")
        conn.execute("UPDATE agents SET available = 0 WHERE handle != 'alice'")
    first = engine.send_message(claimed(engine, "a@example.com"), "one")
    queued = engine.send_message(claimed(engine, "b@example.com"), "two")
    assert (first.assignee, queued.assignee) == ("alice", None)
    engine.close(first.conversation_id, "alice", force=True)
    assert engine.conversation(queued.conversation_id).assignee == "alice"


def test_tick_assigns_queued_conversations_when_an_agent_becomes_available(
    engine: Engine, desk: Desk
) -> None:
    with desk.transaction() as conn:
        conn.execute("UPDATE agents SET available = 0")
    queued = engine.send_message(claimed(engine, "a@example.com"), "anyone?")
    assert queued.assignee is None
    engine.tick()
    assert engine.conversation(queued.conversation_id).assignee is None
    with desk.transaction() as conn:
        conn.execute("UPDATE agents SET available = 1 WHERE handle = 'bruno'")
    engine.tick()
    assert engine.conversation(queued.conversation_id).assignee == "bruno"


def test_hostile_session_tokens_are_unknown_not_errors(engine: Engine) -> None:
    start = engine.init_session("shop")
    assert engine.session_for_token(start.token) == start.session_id
    for token in ("", "\ud800", "x" * 10_000, start.token + " "):
        with pytest.raises(NotFound):
            engine.session_for_token(token)
