"""The demo rules driving the engine: routing, greetings, login prompts, login holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.clock import ManualClock
from core.engine import DEFAULT_LOGIN_HOLD_S, Engine
from core.rules import RuleBook, load_rules, rules_path_for
from core.store import Desk

DEMO_RULES = Path(__file__).resolve().parents[2] / "fixtures" / "rules.toml"
INBOXES = frozenset({"Chat", "Returns", "Billing"})


@pytest.fixture
def engine(desk: Desk) -> Engine:
    return Engine(desk, rules=load_rules(DEMO_RULES, inboxes=INBOXES))


def trusted(engine: Engine, email: str = "julie@example.com", name: str = "Julie Martin") -> str:
    session = engine.init_session("shop").session_id
    engine.set_user(session, jwt=engine.keyring.mint(email=email, name=name))
    return session


def claimed(engine: Engine, email: str = "julie@example.com", name: str = "Julie Martin") -> str:
    session = engine.init_session("shop").session_id
    engine.submit_onboarding(session, name=name, email=email)
    return session


def timeline(engine: Engine, conversation_id: int) -> list[tuple[str, str]]:
    """(sender or event, body) for each item, in order."""
    return [(item.event or item.sender, item.body) for item in engine.timeline(conversation_id)]


def test_trusted_returns_go_to_returns_with_a_personal_greeting(engine: Engine) -> None:
    sent = engine.send_message(trusted(engine), "I'd like to return the linen shirt")
    view = engine.conversation(sent.conversation_id)
    assert view.inbox == "Returns" and view.assignee == "alice"
    assert view.tags == ("returns",)
    assert timeline(engine, sent.conversation_id) == [
        (
            "authenticated",
            "Customer authenticated with a signed identity token before the chat started",
        ),
        ("customer", "I'd like to return the linen shirt"),
        (
            "bot",
            "Hi Julie, I can see your recent orders. A returns specialist will pick this up in a moment.",
        ),
        ("assigned", "Assigned to Alice Agent (alice)"),
    ]


def test_claimed_returns_go_to_returns_without_the_greeting(engine: Engine) -> None:
    sent = engine.send_message(claimed(engine), "How long do refunds take?")
    view = engine.conversation(sent.conversation_id)
    assert view.inbox == "Returns" and view.assignee == "alice"
    assert [sender for sender, _ in timeline(engine, sent.conversation_id)] == [
        "customer",
        "assigned",
    ]


def test_no_rule_matches_default_inbox(engine: Engine) -> None:
    sent = engine.send_message(claimed(engine), "Do you have the wool coat in a medium?")
    view = engine.conversation(sent.conversation_id)
    assert view.inbox == "Chat" and view.tags == () and view.assignee == "alice"


def test_account_question_is_held_until_the_customer_logs_in(engine: Engine) -> None:
    session = claimed(engine)
    sent = engine.send_message(session, "I was charged twice, check my account")
    held = engine.conversation(sent.conversation_id)
    assert held.routed_at is None and held.assignee is None
    assert held.inbox == "Billing"  # the rules' route stands while held
    assert held.tags == ("account", "billing")
    assert [s for s, _ in timeline(engine, sent.conversation_id)] == [
        "customer",
        "bot",
        "bot",  # the login prompt, sent by the bot
        "login_prompt_sent",
    ]
    assert "https://shop.example.com/login" in timeline(engine, sent.conversation_id)[2][1]
    assert not sent.trusted and sent.assignee is None

    engine.set_user(session, jwt=engine.keyring.mint(email="julie@example.com"))
    routed = engine.conversation(sent.conversation_id)
    assert routed.routed_at is not None and routed.assignee == "alice"
    assert routed.inbox == "Billing" and routed.trust_path == "before_routing"
    items = timeline(engine, sent.conversation_id)
    assert items[-3:] == [
        ("authenticated", "Customer authenticated with a signed identity token"),
        ("assigned", "Assigned to Alice Agent (alice)"),
        ("bot", "Thanks Julie, you're logged in. An agent will be with you shortly."),
    ]
    assert engine.send_message(session, "Order 4471").trusted


def test_a_held_chat_goes_to_the_default_inbox_when_the_hold_times_out(
    engine: Engine, clock: ManualClock
) -> None:
    sent = engine.send_message(claimed(engine), "I forgot my password")
    assert engine.conversation(sent.conversation_id).routed_at is None
    clock.advance(DEFAULT_LOGIN_HOLD_S - 1)
    engine.tick()
    assert engine.conversation(sent.conversation_id).routed_at is None
    clock.advance(1)
    engine.tick()
    view = engine.conversation(sent.conversation_id)
    assert view.routed_at == clock.now_ms() and view.inbox == "Chat"
    assert view.assignee == "alice" and view.trust_path is None


def test_a_trusted_customer_is_never_held(engine: Engine) -> None:
    sent = engine.send_message(trusted(engine), "I forgot my password")
    view = engine.conversation(sent.conversation_id)
    assert view.routed_at is not None and view.assignee == "alice" and view.tags == ()


def test_logging_in_mid_chat_thanks_and_tags(engine: Engine) -> None:
    session = claimed(engine)
    sent = engine.send_message(session, "Do you have the wool coat in a medium?")
    engine.set_user(session, jwt=engine.keyring.mint(email="julie@example.com"))
    view = engine.conversation(sent.conversation_id)
    assert view.trust_path == "after_routing" and view.tags == ("verified-mid-chat",)
    assert timeline(engine, sent.conversation_id)[-1] == (
        "bot",
        "Thanks Julie, you're logged in; your messages are now verified.",
    )


def test_message_trigger_rules_see_later_messages(desk: Desk, tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        "[[rules]]\n[rules.when]\ntrigger = 'message'\nmessage_keywords = ['urgent']\n"
        "[rules.then]\ntag = 'urgent'\nbot_message = 'We see it is urgent, {first_name}.'\n"
    )
    engine = Engine(desk, rules=load_rules(path))
    session = claimed(engine)
    sent = engine.send_message(session, "urgent: hello")  # routing, not message: no match
    assert engine.conversation(sent.conversation_id).tags == ()
    engine.send_message(session, "this is URGENT now")
    assert engine.conversation(sent.conversation_id).tags == ("urgent",)
    assert timeline(engine, sent.conversation_id)[-1] == ("bot", "We see it is urgent, Julie.")


def test_a_rules_file_fixed_while_the_desk_runs(desk: Desk) -> None:
    path = rules_path_for(desk)
    path.write_text("[[rules]]\n[rules.then]\nroute = 'Billing'\n")
    book = RuleBook(path, inboxes=INBOXES, check_interval_s=0)
    engine = Engine(desk, rules=book)
    first = engine.send_message(claimed(engine, "a@example.com"), "hello")
    assert engine.conversation(first.conversation_id).inbox == "Billing"

    # Each edit changes the size too: two writes may share an mtime tick on coarse clocks.
    path.write_text("[[rules]]\n[rules.then]\nroute = 'Nowhere'\n# broken\n")
    second = engine.send_message(claimed(engine, "b@example.com"), "hello")
    assert engine.conversation(second.conversation_id).inbox == "Billing"  # old rules stand
    assert book.error is not None and "no inbox 'Nowhere'" in str(book.error)

    path.write_text("[[rules]]\n[rules.then]\nroute = 'Returns'\n# fixed, at last\n")
    third = engine.send_message(claimed(engine, "c@example.com"), "hello")
    assert engine.conversation(third.conversation_id).inbox == "Returns"
    assert book.error is None
