"""The widget's greeting (core/engine/greeting.py): "welcome back" only for a verified
customer who chatted before; a claim is greeted by first name and recognised by nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.clock import ManualClock, parse_iso
from core.engine import Engine
from core.store import Desk

JULIE = "julie.romero@example.com"  # demo customer with three closed conversations
RETURNING = "Hi Julie, welcome back to Retalé! How can we help today?"


@pytest.fixture
def demo_engine(demo_db: Path) -> Iterator[Engine]:
    clock = ManualClock(parse_iso("2026-11-20T10:00:00Z"))
    with Desk.open(demo_db, clock=clock, create=False) as desk:
        yield Engine(desk)


def login(engine: Engine, email: str, name: str) -> str:
    session = engine.init_session("retale").session_id
    engine.set_user(session, jwt=engine.keyring.mint(email=email, name=name))
    return session


def test_anonymous_sessions_get_the_first_message_not_a_greeting(demo_engine: Engine) -> None:
    start = demo_engine.init_session("retale")
    assert demo_engine.session(start.session_id).greeting is None
    assert "/demo/login" in start.first_message


def test_a_verified_returning_customer_is_welcomed_back(demo_engine: Engine) -> None:
    session = login(demo_engine, JULIE, "Julie Romero")
    assert demo_engine.session(session).greeting == RETURNING


def test_a_verified_first_time_customer_is_not_welcomed_back(demo_engine: Engine) -> None:
    session = login(demo_engine, "hana.sato@example.net", "Hana Sato")
    greeting = demo_engine.session(session).greeting
    assert greeting == "Hi Hana, welcome to Retalé! How can we help today?"
    # Her first chat does not make her "returning" halfway through it.
    demo_engine.send_message(session, "Hello")
    assert demo_engine.session(session).greeting == greeting
    # The next visit, verified again, is a return.
    assert isinstance(demo_engine.desk.clock, ManualClock)
    demo_engine.desk.clock.advance(600)
    assert demo_engine.session(login(demo_engine, "hana.sato@example.net", "Hana")).greeting == (
        "Hi Hana, welcome back to Retalé! How can we help today?"
    )


@pytest.mark.parametrize("how", ["onboarding", "set_user"])
def test_a_claim_is_greeted_by_first_name_without_recognition(
    demo_engine: Engine, how: str
) -> None:
    """Typing a known customer's email must not earn "welcome back": that would read as
    verified, and would tell whoever typed it that the email has history on the desk."""
    greetings = []
    for email in (JULIE, "someone.new@example.net"):
        session = demo_engine.init_session("retale").session_id
        if how == "onboarding":
            view = demo_engine.submit_onboarding(session, name="Julie Romero", email=email)
        else:
            view = demo_engine.set_user(session, name="Julie Romero", email=email)
        assert view.identity_state == "CLAIMED"
        greetings.append(view.greeting)
    assert greetings[0] == greetings[1] == "Hi Julie, welcome to Retalé! How can we help today?"
    assert "back" not in (greetings[0] or "")


def test_lapsed_trust_greets_like_a_claim(demo_engine: Engine) -> None:
    session = login(demo_engine, JULIE, "Julie Romero")
    assert isinstance(demo_engine.desk.clock, ManualClock)
    demo_engine.desk.clock.advance(3 * 3600)
    demo_engine.expire_trust()
    view = demo_engine.session(session)
    assert view.identity_state == "CLAIMED" and view.greeting is not None
    assert "back" not in view.greeting


def test_hostile_names_fill_the_template_as_plain_text(demo_engine: Engine) -> None:
    session = demo_engine.init_session("retale").session_id
    view = demo_engine.submit_onboarding(
        session, name="{store_name}[red]x {first_name}", email="odd@example.net"
    )
    # One pass: a placeholder inside the customer's name is not filled in.
    assert view.greeting == "Hi {store_name}[red]x, welcome to Retalé! How can we help today?"
