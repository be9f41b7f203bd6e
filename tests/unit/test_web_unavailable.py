"""While the desk's database cannot be reached (`StoreUnavailable`), the server answers 503
with Retry-After in the error envelope, on every path, and then holds off for a moment
instead of sending every request to wait on the dead server (core/web/state.py).

The outage is simulated here, in process; tests/e2e/test_pg_outage.py stops a real
PostgreSQL server under a real `gladdesk serve`.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.errors import StoreUnavailable
from core.web import state as web_state
from tests.web_helpers import error


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the outage is simulated; the store behind it does not matter


def down(*args: Any, **kwargs: Any) -> Any:
    raise StoreUnavailable("the desk's database is unreachable (postgresql://db.internal/desk)")


def assert_503(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "2"
    problem = error(response)
    assert problem["code"] == "unavailable" and problem["attr"] is None
    assert "db.internal" not in response.text  # the server's address is not the caller's business


def test_widget_and_admin_calls_answer_503_and_hold_off(
    client: TestClient, api_auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = client.post("/widget/v1/sessions", json={"appId": "retale"}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    engine = client.app.state.web.engine  # type: ignore[attr-defined]
    calls = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return down()

    monkeypatch.setattr(engine, "session", counted)
    assert_503(client.get("/widget/v1/session", headers=auth))
    assert len(calls) == 1
    # Within the hold every call is refused at once, without touching the desk.
    for request in (
        lambda: client.get("/widget/v1/session", headers=auth),
        lambda: client.post("/widget/v1/messages", json={"body": "hi"}, headers=auth),
        lambda: client.get("/api/v1/conversations/1/items", headers=api_auth),
        lambda: client.get("/widget/v1/events", headers=auth),
    ):
        assert_503(request())
    assert len(calls) == 1
    monkeypatch.undo()  # the database is back
    time.sleep(web_state.UNREACHABLE_HOLD_S)
    assert client.get("/widget/v1/session", headers=auth).status_code == 200  # back by itself


def test_a_cross_origin_request_answers_503_too(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The widget's CORS check reads the apps' origins before any route runs."""
    monkeypatch.setattr(web_state, "app_origins", down)
    client.app.state.web._origins = (float("-inf"), {})  # type: ignore[attr-defined]
    response = client.post(
        "/widget/v1/sessions", json={"appId": "retale"}, headers={"Origin": "https://shop.example"}
    )
    assert_503(response)
