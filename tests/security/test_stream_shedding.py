"""A reconnect loop refused by the budget of stream opens is answered again before routing
(core/web/shedding.py): the same 429 for that session or address until the budget refills,
without reaching the route; other sessions and addresses are not held, and a hold ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.web.hub import STREAM_OPENS_PER_SESSION_PER_MIN, TooManyStreams
from core.web.limits import Refusals
from core.web.shedding import Shedding, stream_key
from core.web.state import WebState
from tests.web_helpers import error


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state_of(client: TestClient) -> WebState:
    return client.app.state.web  # type: ignore[attr-defined,no-any-return]


def new_session(client: TestClient) -> tuple[str, str]:
    response = client.post("/widget/v1/sessions", json={"appId": "retale"})
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    return token, state_of(client).tokens[token].session_id


class Routed:
    """Stands in for the hub's `subscribe`: counts the calls that reached the route and
    refuses them for a cap (which is never held), so that no stream opens."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, session_id: str, network: str) -> Any:
        self.calls.append(session_id)
        raise TooManyStreams("too many open event streams (test)", "session", 5, budget=False)


def events(client: TestClient, token: str, *, in_query: bool = False) -> Any:
    if in_query:
        return client.get("/widget/v1/events", params={"token": token})
    return client.get("/widget/v1/events", headers={"Authorization": f"Bearer {token}"})


def test_a_session_over_its_budget_is_refused_again_before_the_route(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, session_id = new_session(client)
    other_token, other_id = new_session(client)
    hub = state_of(client).hub
    for _ in range(STREAM_OPENS_PER_SESSION_PER_MIN):
        hub.session_opens.spend(session_id)
    refused = events(client, token)
    assert refused.status_code == 429
    assert "opened by this session" in error(refused)["detail"]
    retry_after = int(refused.headers["Retry-After"])
    assert retry_after >= 1

    routed = Routed()
    monkeypatch.setattr(hub, "subscribe", routed)
    for in_query in (False, True):  # the header and ?token= are the same session
        again = events(client, token, in_query=in_query)
        assert again.status_code == 429
        assert error(again)["code"] == "rate_limited"
        assert "opened by this session" in error(again)["detail"]
        assert 1 <= int(again.headers["Retry-After"]) <= retry_after
    assert routed.calls == []  # answered before the route
    # another session from the same address still reaches the route, and a refusal for a
    # cap of open streams is not held: the next call reaches the route again
    assert events(client, other_token).status_code == 429
    assert events(client, other_token).status_code == 429
    assert routed.calls == [other_id, other_id]


def test_an_address_over_its_budget_is_refused_again_for_any_of_its_sessions(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, _ = new_session(client)
    state = state_of(client)
    network = "testclient"  # Starlette's TestClient calls from this host
    budget = state.hub.address_opens
    for _ in range(int(budget.capacity)):
        budget.spend(network)
    refused = events(client, token)
    assert refused.status_code == 429 and "opened by this address" in error(refused)["detail"]
    routed = Routed()
    monkeypatch.setattr(state.hub, "subscribe", routed)
    later_token, _ = new_session(client)
    for attempt in (token, later_token, "not-a-token"):
        again = events(client, attempt)
        assert again.status_code == 429 and "opened by this address" in error(again)["detail"]
    assert routed.calls == []


def test_wrong_tokens_and_caps_are_never_held(client: TestClient) -> None:
    # a hold is only ever made for a spent budget: wrong tokens answer 401 every time
    for _ in range(3):
        response = events(client, "wrong-token")
        assert response.status_code == 401
    assert len(state_of(client).refusals) == 0


def test_a_hold_ends_when_the_budget_refills_and_the_map_is_bounded() -> None:
    clock = Clock()
    refusals = Refusals(now=clock, max_keys=3)
    refusals.hold("streams session:a", 2.0, "too many event streams opened by this session")
    assert refusals.held("streams session:a") == (
        2.0,
        "too many event streams opened by this session",
    )
    clock.now = 1.5
    left, _ = refusals.held("streams session:a") or (0.0, "")
    assert left == pytest.approx(0.5)
    clock.now = 2.0
    assert refusals.held("streams session:a") is None
    assert len(refusals) == 0
    for n in range(5):
        refusals.hold(f"streams addr:{n}", 10.0, "too many")
    assert len(refusals) == 3 and refusals.held("streams addr:0") is None


def test_other_calls_pass_through_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])

    refusals = Refusals()
    refusals.hold(stream_key("address", "127.0.0.9"), 60.0, "too many")
    shedding = Shedding(app, refusals, lambda token: None)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call(method: str, path: str) -> None:
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "headers": [],
            "query_string": b"",
            "client": ("127.0.0.9", 5000),
        }
        await shedding(scope, None, send)  # type: ignore[arg-type]

    asyncio.run(call("GET", "/widget/v1/events"))  # the held call: answered, not passed on
    assert seen == [] and sent[0]["status"] == 429
    asyncio.run(call("GET", "/widget/v1/session"))
    asyncio.run(call("POST", "/widget/v1/messages"))
    assert seen == ["/widget/v1/session", "/widget/v1/messages"]
