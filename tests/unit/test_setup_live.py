"""Changes made with `gladdesk apps / agents / inboxes` reach an engine and a server built
before them, through the change feed; and what they change does what it says: routing by an
agent's inboxes, disabled agents, separate greetings for new and returning customers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.clock import ManualClock
from core.engine import Engine
from core.engine.greeting import GREETING_NEW
from core.errors import Conflict
from core.store import Desk
from core.web import create_app
from tests.helpers import cli_ok as cli

WAIT_S = 10.0


def eventually(check: Callable[[], bool], what: str) -> None:
    """Poll `check` until it holds (the server reads the change feed every 20 ms)."""
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"not within {WAIT_S} s: {what}"
        time.sleep(0.02)


# -- an engine built before the change --------------------------------------------------------


def test_an_engine_sees_an_app_change_once_it_reads_the_change_feed(
    engine: Engine, desk: Desk
) -> None:
    assert engine.init_session("shop").onboarding_required
    assert engine.app("shop")["store_name"] == "Shop"  # now cached
    mark = desk.last_event_id()
    cli(desk.location, "apps", "set", "shop", "--store-name", "Shop Two", "--onboarding", "off")
    assert engine.app("shop")["store_name"] == "Shop"  # the cache does not look by itself
    news = desk.events_after(mark)
    assert [e.kind for e in news] == ["app.changed"]
    assert engine.follow(news) is True
    assert engine.app("shop")["store_name"] == "Shop Two"
    assert not engine.init_session("shop").onboarding_required
    assert engine.follow(desk.events_after(desk.last_event_id())) is False


def test_each_change_appends_its_feed_row(desk: Desk) -> None:
    mark = desk.last_event_id()
    cli(desk.location, "inboxes", "add", "VIP")
    cli(desk.location, "agents", "add", "dana", "--name", "Dana", "--inbox", "VIP")
    cli(desk.location, "agents", "set", "dana", "--capacity", "2")
    cli(desk.location, "agents", "disable", "dana")
    cli(desk.location, "agents", "enable", "dana")
    cli(desk.location, "apps", "add", "two", "--store-name", "Two")
    cli(desk.location, "inboxes", "default", "VIP")
    kinds = [e.kind for e in desk.events_after(mark)]
    assert kinds == [
        "inbox.added",
        "agent.added",
        "agent.changed",
        "agent.disabled",
        "agent.enabled",
        "app.added",
        "settings.changed",
    ]


# -- routing ----------------------------------------------------------------------------------


def customer(engine: Engine, email: str, text: str = "Hello?") -> str | None:
    session = engine.init_session("shop").session_id
    engine.set_user(session, name="Pat Doe", email=email)
    return engine.send_message(session, text).assignee


def test_an_agent_limited_to_inboxes_gets_only_their_chats(engine: Engine, desk: Desk) -> None:
    cli(desk.location, "agents", "set", "alice", "--inbox", "Returns")
    cli(desk.location, "agents", "set", "bruno", "--inbox", "Returns")
    # Chat (the default inbox) goes to chen alone, however loaded
    assert [customer(engine, f"c{n}@example.com") for n in range(3)] == ["chen"] * 3
    cli(desk.location, "inboxes", "default", "Returns")
    assert customer(engine, "r1@example.com") in ("alice", "bruno")
    # chen works every inbox: the least loaded of the three takes Returns chats too
    cli(desk.location, "agents", "set", "chen", "--capacity", "3")
    assert customer(engine, "r2@example.com") in ("alice", "bruno")


def test_a_queued_chat_waits_for_an_agent_of_its_inbox(engine: Engine, desk: Desk) -> None:
    cli(desk.location, "agents", "set", "alice", "--inbox", "Returns", "--capacity", "1")
    for handle in ("bruno", "chen"):
        cli(desk.location, "agents", "disable", handle)
    assert customer(engine, "a@example.com") is None  # Chat: nobody works it
    cli(desk.location, "inboxes", "default", "Returns")
    assert customer(engine, "b@example.com") == "alice"
    assert customer(engine, "c@example.com") is None  # alice is full
    assert engine.assign_queued() == 0
    cli(desk.location, "agents", "enable", "bruno")
    assert engine.assign_queued() == 2  # bruno works every inbox: both wait no more


def test_a_disabled_agent_gets_no_new_chats_and_keeps_their_open_ones(
    engine: Engine, desk: Desk, clock: ManualClock
) -> None:
    assert customer(engine, "one@example.com") == "alice"
    out = cli(desk.location, "agents", "disable", "alice")
    assert "1 open chat(s) are still theirs" in out
    assert {customer(engine, f"n{n}@example.com") for n in range(4)} == {"bruno", "chen"}
    [mine] = [c for c in engine.export_conversations() if c["assignee"] == "alice"]
    assert mine["status"] == "OPEN"
    with pytest.raises(Conflict, match="agent 'alice' is disabled"):
        engine.transfer(mine["id"] + 1, "bruno", to_agent="alice")
    engine.transfer(mine["id"], "bruno", to_agent="chen")  # a colleague moves it on
    cli(desk.location, "agents", "enable", "alice")
    assert customer(engine, "back@example.com") == "alice"


def test_the_widget_sees_no_agent_when_all_are_disabled(desk: Desk) -> None:
    from core.store.directory import agents_available

    assert agents_available(desk)
    for handle in ("alice", "bruno", "chen"):
        cli(desk.location, "agents", "disable", handle)
    assert not agents_available(desk)


# -- greetings --------------------------------------------------------------------------------


def test_new_and_returning_customers_get_their_own_greeting(
    engine: Engine, desk: Desk, clock: ManualClock
) -> None:
    cli(
        desk.location,
        "apps",
        "set",
        "shop",
        "--greeting-new",
        "Welcome, {first_name}!",
        "--greeting-returning",
        "Welcome back, {first_name}!",
    )
    engine.follow(desk.events_after(0))

    def greeted(**identity: str) -> str | None:
        session = engine.init_session("shop").session_id
        if "jwt" in identity:
            view = engine.set_user(session, jwt=identity["jwt"])
        else:
            view = engine.set_user(session, name="Julie Martin", email=identity["email"])
        engine.send_message(session, "Hi")
        engine.end_session(session)
        clock.advance(60)
        return view.greeting

    token = lambda: engine.keyring.mint(email="julie@example.com", name="Julie Martin")  # noqa: E731
    assert greeted(jwt=token()) == "Welcome, Julie!"  # verified, but never chatted before
    assert greeted(jwt=token()) == "Welcome back, Julie!"  # verified, and chatted before
    # a claim of the same email is not proof: greeted as new, nothing learnt about Julie
    assert greeted(email="julie@example.com") == "Welcome, Julie!"


def test_a_desk_from_before_separate_greetings_greets_a_new_customer_by_the_default(
    engine: Engine, desk: Desk
) -> None:
    token = engine.keyring.mint(email="kim@example.com", name="Kim Lee")
    session = engine.init_session("shop").session_id
    # its one greeting is for returning customers; a first-time one gets the desk's default
    assert engine.set_user(session, jwt=token).greeting == GREETING_NEW.format(
        first_name="Kim", store_name="Shop"
    )


# -- a server built before the change ---------------------------------------------------------


def test_a_running_server_follows_app_changes_without_a_restart(demo_db: Path) -> None:
    asked = {"Access-Control-Request-Method": "POST", "Origin": "https://new.example"}
    with TestClient(create_app(demo_db, poll_s=0.02)) as client:

        def started() -> dict:
            response = client.post("/widget/v1/sessions", json={"appId": "retale"})
            assert response.status_code in (201, 429), response.text
            return response.json() if response.status_code == 201 else {"status": 429}

        assert started()["storeName"] == "Retalé"
        assert client.options("/widget/v1/sessions", headers=asked).status_code == 403
        cli(
            demo_db,
            "apps",
            "set",
            "retale",
            "--store-name",
            "Retalé Paris",
            "--origin",
            "https://new.example",
            "--onboarding",
            "off",
        )
        eventually(lambda: started().get("storeName") == "Retalé Paris", "the new store name")
        assert started()["onboardingRequired"] is False
        preflight = client.options("/widget/v1/sessions", headers=asked)
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "https://new.example"
        # a budget lowered on the running server: one session a minute from an address
        cli(demo_db, "apps", "set", "retale", "--address-sessions-per-min", "1")
        eventually(lambda: started() == {"status": 429}, "the lowered budget")
