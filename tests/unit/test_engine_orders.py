"""The five orders (docs/authentication-orders.md), end to end over a real database file.

Each asserts profile, conversation, assignee, every message's trusted flag and glyph, and the
greeting, through the same export the CLI prints.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.clock import ManualClock
from core.engine import Engine
from core.identity import TokenRejected


def export_for(engine: Engine, email: str) -> list[dict[str, Any]]:
    return engine.export_conversations(customer=email)


def customer_messages(conversation: dict[str, Any]) -> list[tuple[str, bool, str | None]]:
    return [
        (item["body"], item["trusted"], item["glyph"])
        for item in conversation["items"]
        if item["type"] == "message" and item["sender"] == "customer"
    ]


def events(conversation: dict[str, Any]) -> list[str]:
    return [item["event"] for item in conversation["items"] if item["type"] == "event"]


def test_most_ideal_logged_in_before_the_chat(engine: Engine) -> None:
    start = engine.init_session("shop")
    assert start.onboarding_required
    token = engine.keyring.mint(email="julie@example.com", name="Julie Martin")
    view = engine.set_user(start.session_id, jwt=token)
    assert view.identity_state == "TRUSTED" and view.identity_source == "jwt"
    assert not view.onboarding_required
    assert view.greeting == "Hi Julie, welcome to Shop! How can we help today?"
    first = engine.send_message(start.session_id, "Where is my order?")
    second = engine.send_message(start.session_id, "It is order 1234.")
    assert first.trusted and second.trusted and first.new_conversation
    [conversation] = export_for(engine, "julie@example.com")
    assert conversation["assignee"] == "alice"
    assert conversation["identity"] == {
        "state": "TRUSTED",
        "source": "jwt",
        "trust_path": "before_routing",
    }
    assert customer_messages(conversation) == [
        ("Where is my order?", True, "green"),
        ("It is order 1234.", True, "green"),
    ]
    assert events(conversation) == ["authenticated", "assigned"]


def test_ideal_follows_the_login_link_before_routing(engine: Engine) -> None:
    start = engine.init_session("shop")
    assert "https://shop.example.com/login" in start.first_message
    token = engine.keyring.mint(email="julie@example.com", name="Julie Martin")
    view = engine.set_user(start.session_id, jwt=token)
    assert view.greeting == "Hi Julie, welcome to Shop! How can we help today?"
    engine.send_message(start.session_id, "Can I return these boots?")
    [conversation] = export_for(engine, "julie@example.com")
    assert [t for _, t, _ in customer_messages(conversation)] == [True]
    assert conversation["identity"]["trust_path"] == "before_routing"


def test_standard_onboarding_finds_the_existing_profile(engine: Engine) -> None:
    past = engine.init_session("shop")
    engine.submit_onboarding(past.session_id, name="Julie Martin", email="julie@example.com")
    old = engine.send_message(past.session_id, "Old question")
    engine.close(old.conversation_id, "alice", force=True)

    start = engine.init_session("shop")
    view = engine.submit_onboarding(start.session_id, name="Julie M", email="JULIE@example.com")
    assert view.identity_state == "CLAIMED" and view.identity_source == "onboarding_form"
    assert view.profile_id == engine.find_profile("julie@example.com").id
    sent = engine.send_message(start.session_id, "Where is my refund?")
    assert not sent.trusted and sent.new_conversation
    history = engine.past_conversations(view.profile_id or 0, exclude=sent.conversation_id)
    assert [p.id for p in history] == [old.conversation_id]
    prompt_id = engine.send_login_prompt(sent.conversation_id, sent.assignee or "")
    timeline = engine.timeline(sent.conversation_id)
    prompt = next(item for item in timeline if item.id == prompt_id)
    assert "https://shop.example.com/login" in prompt.body
    assert "login_prompt_sent" in [item.event for item in timeline]
    current = export_for(engine, "julie@example.com")[-1]
    assert current["identity"]["state"] == "CLAIMED"
    assert customer_messages(current) == [("Where is my refund?", False, None)]


def test_new_customer_gets_a_new_profile(engine: Engine) -> None:
    start = engine.init_session("shop")
    view = engine.submit_onboarding(
        start.session_id, name="Nadia Haddad", email="nadia@example.com"
    )
    assert engine.find_profile("nadia@example.com").id == view.profile_id
    assert engine.past_conversations(view.profile_id or 0) == []


def test_undesired_logs_in_with_the_same_email_after_routing(engine: Engine) -> None:
    start = engine.init_session("shop")
    engine.submit_onboarding(start.session_id, name="Julie Martin", email="julie@example.com")
    before = engine.send_message(start.session_id, "My parcel is late")
    engine.reply(before.conversation_id, before.assignee or "", "Could you log in?")
    token = engine.keyring.mint(email="julie@example.com")
    view = engine.set_user(start.session_id, jwt=token)
    after = engine.send_message(start.session_id, "Logged in now")
    assert view.profile_id == engine.find_profile("julie@example.com").id
    assert after.conversation_id == before.conversation_id
    assert after.assignee == before.assignee
    assert not after.new_conversation
    [conversation] = export_for(engine, "julie@example.com")
    assert customer_messages(conversation) == [
        ("My parcel is late", False, None),
        ("Logged in now", True, "green"),
    ]
    kinds = [item["event"] or item["sender"] for item in conversation["items"]]
    assert kinds == ["customer", "assigned", "agent", "authenticated", "customer"]
    assert conversation["identity"]["trust_path"] == "after_routing"


def test_most_undesired_logs_in_as_someone_else(engine: Engine) -> None:
    start = engine.init_session("shop")
    engine.submit_onboarding(start.session_id, name="Amara Okafor", email="amara@example.com")
    a_msg = engine.send_message(start.session_id, "I need help with my account")
    a_before = export_for(engine, "amara@example.com")
    token = engine.keyring.mint(email="bruno@example.com", name="Bruno Silva")
    view = engine.set_user(start.session_id, jwt=token)
    assert view.greeting == "Hi Bruno, welcome to Shop! How can we help today?"
    b_msg = engine.send_message(start.session_id, "Hello, it's Bruno")
    assert b_msg.new_conversation and b_msg.conversation_id != a_msg.conversation_id
    assert b_msg.assignee is not None and b_msg.assignee != a_msg.assignee
    assert b_msg.trusted
    # A's conversation and history are untouched; nothing moved between the two.
    assert export_for(engine, "amara@example.com") == a_before
    [b_conv] = export_for(engine, "bruno@example.com")
    assert customer_messages(b_conv) == [("Hello, it's Bruno", True, "green")]
    assert b_conv["identity"]["trust_path"] == "different_identity"
    assert (
        engine.find_profile("amara@example.com").id != engine.find_profile("bruno@example.com").id
    )


def test_most_undesired_with_one_agent_still_routes(tmp_path: Any, clock: ManualClock) -> None:
    from core.store import Desk
    from tests.helpers import seed_desk

    desk = Desk.open(tmp_path / "one.db", clock=clock)
    seed_desk(desk, agents=("solo",))
    engine = Engine(desk)
    start = engine.init_session("shop")
    engine.submit_onboarding(start.session_id, name="A", email="a@example.com")
    first = engine.send_message(start.session_id, "hi")
    engine.set_user(start.session_id, jwt=engine.keyring.mint(email="b@example.com"))
    second = engine.send_message(start.session_id, "hi again")
    assert first.assignee == second.assignee == "solo"
    assert first.conversation_id != second.conversation_id


def test_phone_identity(engine: Engine) -> None:
    start = engine.init_session("shop")
    token = engine.keyring.mint(phone="+1 415 555 0123", name="Kenji Tanaka")
    view = engine.set_user(start.session_id, jwt=token)
    assert view.greeting == "Hi Kenji, welcome to Shop! How can we help today?"
    sent = engine.send_message(start.session_id, "Hello")
    assert sent.trusted
    [conversation] = engine.export_conversations(customer="+14155550123")
    assert conversation["customer"]["phones"] == ["+14155550123"]
    claimed = engine.init_session("shop")
    other = engine.set_user(claimed.session_id, name="Kenji", phone="+14155550123")
    assert other.profile_id == view.profile_id and other.identity_state == "CLAIMED"


def test_trust_window_lapses_and_a_fresh_token_renews_it(
    engine: Engine, clock: ManualClock
) -> None:
    start = engine.init_session("shop")
    engine.set_user(start.session_id, jwt=engine.keyring.mint(email="julie@example.com"))
    assert engine.send_message(start.session_id, "first").trusted
    clock.advance(59 * 60)
    assert engine.send_message(start.session_id, "still inside the window").trusted
    clock.advance(2 * 60)  # past 60 minutes
    assert engine.expire_trust() == [start.session_id]
    kinds = [e.kind for e in engine.widget_events(start.session_id)]
    assert "identity:expired" in kinds
    lapsed = engine.send_message(start.session_id, "after the window")
    assert not lapsed.trusted
    engine.set_user(start.session_id, jwt=engine.keyring.mint(email="julie@example.com"))
    renewed = engine.send_message(start.session_id, "renewed")
    assert renewed.trusted
    [conversation] = export_for(engine, "julie@example.com")
    assert [t for _, t, _ in customer_messages(conversation)] == [True, True, False, True]
    assert events(conversation).count("trust_expired") == 1
    assert events(conversation).count("authenticated") == 2


def test_lapse_is_noticed_when_a_message_arrives(engine: Engine, clock: ManualClock) -> None:
    start = engine.init_session("shop")
    engine.set_user(start.session_id, jwt=engine.keyring.mint(email="julie@example.com"))
    engine.send_message(start.session_id, "first")
    clock.advance(3601)
    assert not engine.send_message(start.session_id, "late").trusted
    assert "identity:expired" in [e.kind for e in engine.widget_events(start.session_id)]


def test_clear_user_then_another_person_on_the_same_browser(engine: Engine) -> None:
    start = engine.init_session("shop")
    engine.set_user(start.session_id, jwt=engine.keyring.mint(email="julie@example.com"))
    julie = engine.send_message(start.session_id, "Julie here")
    engine.reply(julie.conversation_id, julie.assignee or "", "Hello Julie, private details")
    view = engine.clear_user(start.session_id)
    assert view.identity_state == "ANONYMOUS" and view.onboarding_required
    assert view.conversation_id is None and view.greeting is None
    # The session can neither read nor write Julie's conversation any more.
    assert engine.session_timeline(start.session_id) == []
    assert all("private" not in str(event.data) for event in engine.widget_events(start.session_id))
    with pytest.raises(Exception, match="introduce yourself"):
        engine.send_message(start.session_id, "still Julie?")
    engine.submit_onboarding(start.session_id, name="Marcus Okafor", email="marcus@example.com")
    marcus = engine.send_message(start.session_id, "Marcus here")
    assert marcus.conversation_id != julie.conversation_id
    assert [i.body for i in engine.session_timeline(start.session_id)] == ["Marcus here"]
    [julie_conv] = export_for(engine, "julie@example.com")
    assert "identity_cleared" in events(julie_conv)
    assert [b for b, _, _ in customer_messages(julie_conv)] == ["Julie here"]


def test_rejected_token_leaves_the_session_unchanged(engine: Engine, clock: ManualClock) -> None:
    start = engine.init_session("shop")
    engine.submit_onboarding(start.session_id, name="Julie", email="julie@example.com")
    before = engine.session(start.session_id)
    events_before = engine.desk.last_event_id()
    expired = engine.keyring.mint(email="mallory@example.com", ttl_s=60)
    clock.advance(3600)
    with pytest.raises(TokenRejected) as caught:
        engine.set_user(start.session_id, jwt=expired)
    assert caught.value.code == "expired"
    with pytest.raises(TokenRejected) as caught:
        engine.set_user(start.session_id, jwt="not.a.token")
    assert caught.value.code == "malformed"
    assert engine.session(start.session_id) == before
    session_events = [
        e.kind for e in engine.desk.events_after(events_before) if e.session_id == start.session_id
    ]
    assert set(session_events) <= {"token.rejected"}
    assert engine.widget_events(start.session_id, after=events_before) == []
    audit = engine.desk.query("SELECT code, session_id FROM token_audit ORDER BY id")
    assert [tuple(row) for row in audit] == [
        ("expired", start.session_id),
        ("malformed", start.session_id),
    ]


def test_returning_customer_sees_history(engine: Engine) -> None:
    first = engine.init_session("shop")
    engine.set_user(first.session_id, jwt=engine.keyring.mint(email="julie@example.com"))
    old = engine.send_message(first.session_id, "Old order question")
    engine.close(old.conversation_id, old.assignee or "", force=True)
    engine.end_session(first.session_id)

    again = engine.init_session("shop")
    view = engine.set_user(again.session_id, jwt=engine.keyring.mint(email="julie@example.com"))
    new = engine.send_message(again.session_id, "New question")
    history = engine.past_conversations(view.profile_id or 0, exclude=new.conversation_id)
    assert [(p.id, p.status, p.trust_path) for p in history] == [
        (old.conversation_id, "CLOSED", "before_routing")
    ]
    assert history[0].trusted_messages == history[0].customer_messages == 1


def test_closing_turns_green_glyphs_gray(engine: Engine) -> None:
    start = engine.init_session("shop")
    engine.set_user(start.session_id, jwt=engine.keyring.mint(email="julie@example.com"))
    sent = engine.send_message(start.session_id, "Hello")
    assert [i.glyph for i in engine.timeline(sent.conversation_id) if i.sender == "customer"] == [
        "green"
    ]
    engine.reply(sent.conversation_id, sent.assignee or "", "Done!")
    engine.close(sent.conversation_id, sent.assignee or "")
    assert [i.glyph for i in engine.timeline(sent.conversation_id) if i.sender == "customer"] == [
        "gray"
    ]
    engine.reopen(sent.conversation_id, sent.assignee or "")
    assert [i.glyph for i in engine.timeline(sent.conversation_id) if i.sender == "customer"] == [
        "green"
    ]
