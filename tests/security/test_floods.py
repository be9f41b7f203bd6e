"""Floods and guessing against a real `gladdesk serve`, one loopback address per customer.

Clients bind to 127.0.0.2, 127.0.0.3, ... so the server sees each as its own client
address. A flood from one address is slowed (429 with `Retry-After`, in the error envelope)
while the others carry on; the right credentials keep working from an address that guessed
wrong many times; `X-Forwarded-For` is believed only from `--forwarded-allow-ips`.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.engine import Engine
from core.identity.api_users import add_api_user
from core.store import Desk
from sim.demo_desk import build_demo
from tests.e2e.server import free_port, start_server
from tests.web_helpers import error

TIMEOUT_S = 10.0
API_USER = "site-backend@example.com"
#: Extra apps, each with one small budget (the demo app keeps the defaults).
TIGHT_APPS: dict[str, dict[str, int]] = {
    "sessions-tight": {"address_sessions_per_min": 4, "app_sessions_per_min": 6},
    "ids-tight": {"address_identifications_per_min": 2},
    # Onboarding off: an anonymous first message starts a conversation.
    "chats-tight": {"address_conversations_per_min": 1, "onboarding_enabled": 0},
}


@dataclass
class Served:
    url: str
    db: Path
    api_token: str
    folder: Path


def make_desk(folder: Path) -> tuple[Path, str]:
    """The demo desk with the tight apps, no agent available (new chats wait unassigned) and
    an API user; returns the database and the API user's token."""
    db = build_demo(folder / "demo.db")
    with sqlite3.connect(db) as conn:
        for app_id, settings in TIGHT_APPS.items():
            conn.execute(
                "INSERT INTO apps (app_id, store_name, login_url, signup_url, first_message,"
                " greeting, onboarding_enabled, onboarding_identity, trust_window_s,"
                " allowed_origins) SELECT ?, store_name, login_url, signup_url, first_message,"
                " greeting, onboarding_enabled, onboarding_identity, trust_window_s,"
                " allowed_origins FROM apps WHERE app_id = 'retale'",
                (app_id,),
            )
            assignments = ", ".join(f"{column} = ?" for column in settings)
            conn.execute(
                f"UPDATE apps SET {assignments} WHERE app_id = ?", (*settings.values(), app_id)
            )
        conn.execute("UPDATE agents SET available = 0")
    conn.close()
    with Desk.open(db, create=False) as desk:
        token = add_api_user(desk, API_USER)
    return db, token


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("floods")
    db, token = make_desk(folder)
    port = free_port()
    server = start_server(db, port, folder / "serve.log")
    try:
        yield Served(f"http://127.0.0.1:{port}", db, token, folder)
    finally:
        server.terminate()
        server.wait(timeout=20)


def client(url: str, source: str, **headers: str) -> httpx.Client:
    """A client whose connections come from loopback address `source`."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=url, timeout=TIMEOUT_S, transport=transport, headers=headers)


def basic(email: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()


def start(http: httpx.Client, app_id: str = "retale", **headers: str) -> httpx.Response:
    return http.post("/widget/v1/sessions", json={"appId": app_id}, headers=headers)


def bearer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def assert_slowed(response: httpx.Response, code: str = "rate_limited") -> None:
    """429 in the envelope, with a whole number of seconds to wait."""
    assert response.status_code == 429, response.text
    assert error(response)["code"] == code
    assert int(response.headers["Retry-After"]) >= 1


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        found = [tuple(row) for row in conn.execute(sql, params).fetchall()]
    conn.close()
    return found


# -- floods -----------------------------------------------------------------------------------


def test_a_session_flood_from_one_address_is_slowed_while_another_still_starts(
    served: Served,
) -> None:
    with client(served.url, "127.0.0.2") as flood, client(served.url, "127.0.0.3") as other:
        statuses = []
        for _ in range(120):
            response = start(flood)
            statuses.append(response.status_code)
            if response.status_code != 201:
                break
        assert_slowed(response)
        # The default budget: a burst of 60 (plus what refilled meanwhile, one a second).
        assert 60 <= statuses.count(201) < 100 and statuses[-1] == 429
        assert start(other).status_code == 201
        assert_slowed(start(flood))


def test_budgets_are_set_per_app_and_an_app_budget_spans_addresses(served: Served) -> None:
    with client(served.url, "127.0.0.10") as one, client(served.url, "127.0.0.11") as two:
        assert [start(one, "sessions-tight").status_code for _ in range(4)] == [201] * 4
        refused = start(one, "sessions-tight")
        assert_slowed(refused)
        assert "this address" in error(refused)["detail"]
        # The app's budget is 6 for everyone: two more from another address, then no more.
        assert [start(two, "sessions-tight").status_code for _ in range(2)] == [201] * 2
        spent = start(two, "sessions-tight")
        assert_slowed(spent)
        assert "all addresses" in error(spent)["detail"]
        # The demo app's budgets are its own.
        assert start(two).status_code == 201


def test_identifications_are_budgeted_per_address(served: Served) -> None:
    with client(served.url, "127.0.0.14") as flood, client(served.url, "127.0.0.15") as other:
        answers = []
        for n in range(3):
            auth = bearer(start(flood, "ids-tight"))
            claim = {"name": "Flood", "email": f"flood{n}@example.com"}
            answers.append(flood.post("/widget/v1/onboarding", json=claim, headers=auth))
        assert [a.status_code for a in answers[:2]] == [200, 200]
        assert_slowed(answers[2])
        auth = bearer(start(other, "ids-tight"))
        claim = {"name": "Real", "email": "real.customer@example.com"}
        assert other.put("/widget/v1/user", json=claim, headers=auth).status_code == 200


def test_new_conversations_are_budgeted_but_messages_in_one_are_not(served: Served) -> None:
    with client(served.url, "127.0.0.12") as flood, client(served.url, "127.0.0.13") as other:
        first = bearer(start(flood, "chats-tight"))
        for n in range(3):
            sent = flood.post("/widget/v1/messages", json={"body": f"hi {n}"}, headers=first)
            assert sent.status_code == 201, sent.text
        second = bearer(start(flood, "chats-tight"))
        before = rows(served.db, "SELECT count(*) FROM conversations")
        refused = flood.post("/widget/v1/messages", json={"body": "again"}, headers=second)
        assert_slowed(refused)
        assert rows(served.db, "SELECT count(*) FROM conversations") == before
        assert flood.get("/widget/v1/session", headers=second).json()["conversationId"] is None
        third = bearer(start(other, "chats-tight"))
        sent = other.post("/widget/v1/messages", json={"body": "hello"}, headers=third)
        assert sent.status_code == 201 and sent.json()["newConversation"] is True


def waiting_from(db: Path, address: str) -> int:
    found = rows(
        db,
        "SELECT count(*) FROM conversations WHERE opened_from = ? AND assignee_id IS NULL"
        " AND status != 'CLOSED'",
        (address,),
    )
    return int(found[0][0])


def test_one_address_keeps_at_most_20_chats_waiting_unassigned(served: Served) -> None:
    with client(served.url, "127.0.0.4") as flood, client(served.url, "127.0.0.5") as other:
        sessions = []
        for n in range(21):
            auth = bearer(start(flood))
            claim = {"name": "Flood", "email": f"queue.flood{n}@example.com"}
            assert flood.put("/widget/v1/user", json=claim, headers=auth).status_code == 200
            sessions.append(auth)
        for auth in sessions[:20]:
            sent = flood.post("/widget/v1/messages", json={"body": "help"}, headers=auth)
            assert sent.status_code == 201, sent.text
        assert waiting_from(served.db, "127.0.0.4") == 20
        refused = flood.post("/widget/v1/messages", json={"body": "help"}, headers=sessions[20])
        assert_slowed(refused, "too_many_waiting")
        assert waiting_from(served.db, "127.0.0.4") == 20
        # Another customer is not held back by it.
        auth = bearer(start(other))
        claim = {"name": "Real", "email": "waiting.customer@example.com"}
        assert other.put("/widget/v1/user", json=claim, headers=auth).status_code == 200
        assert other.post("/widget/v1/messages", json={"body": "hi"}, headers=auth).is_success
        # Once an agent deals with one of the address's chats, it may open another.
        [(oldest,)] = rows(
            served.db,
            "SELECT min(id) FROM conversations WHERE opened_from = '127.0.0.4'",
        )
        with Desk.open(served.db, create=False) as desk:
            Engine(desk).close(oldest, "alice", force=True)
        again = flood.post("/widget/v1/messages", json={"body": "help"}, headers=sessions[20])
        assert again.status_code == 201, again.text


def test_sessions_started_by_an_api_user_are_not_budgeted(served: Served) -> None:
    credentials = basic(API_USER, served.api_token)
    with client(served.url, "127.0.0.30") as feed:
        started = [start(feed, "sessions-tight", Authorization=credentials) for _ in range(8)]
        assert [s.status_code for s in started] == [201] * 8
        token = started[0].json()["token"]
        [(api_user,)] = rows(
            served.db,
            "SELECT api_user FROM widget_sessions WHERE client_address = '127.0.0.30' LIMIT 1",
        )
        assert api_user == API_USER
        wrong = start(feed, "sessions-tight", Authorization=basic(API_USER, "gdk_wrong"))
        assert wrong.status_code == 401 and error(wrong)["code"] == "unauthorized"
        session = feed.get("/widget/v1/session", headers={"Authorization": f"Bearer {token}"})
        assert session.status_code == 200


# -- guessing: the right credentials still work --------------------------------------------------


def test_a_valid_session_token_works_from_an_address_that_sent_many_bad_ones(
    served: Served,
) -> None:
    with client(served.url, "127.0.0.16") as guesser, client(served.url, "127.0.0.17") as other:
        auth = bearer(start(guesser))
        wrong = {"Authorization": "Bearer not-a-token"}
        statuses = [guesser.get("/widget/v1/session", headers=wrong).status_code for _ in range(31)]
        assert statuses == [401] * 30 + [429]
        assert_slowed(guesser.get("/widget/v1/session", headers=wrong))
        assert guesser.get("/widget/v1/session", headers=auth).status_code == 200
        sent = guesser.get("/widget/v1/messages", headers=auth)
        assert sent.status_code == 200
        assert other.get("/widget/v1/session", headers=wrong).status_code == 401


def test_right_basic_credentials_work_after_many_wrong_ones(served: Served) -> None:
    owner = "guessed.backend@example.com"
    with Desk.open(served.db, create=False) as desk:
        token = add_api_user(desk, owner)
    right = {"Authorization": basic(owner, token)}
    wrong = {"Authorization": basic(owner, "gdk_wrong")}
    path = "/api/v1/customer-profiles?email=nobody@example.com"
    with client(served.url, "127.0.0.18") as guesser, client(served.url, "127.0.0.19") as other:
        statuses = [guesser.get(path, headers=wrong).status_code for _ in range(11)]
        assert statuses == [401] * 10 + [429]
        assert guesser.get(path, headers=right).status_code == 200
        # The user is throttled too, from any address; other users and the owner are not.
        assert_slowed(other.get(path, headers=wrong))
        stranger = {"Authorization": basic("someone.else@example.com", "gdk_x")}
        assert other.get(path, headers=stranger).status_code == 401
        assert other.get(path, headers=right).status_code == 200


def test_a_valid_identity_token_works_from_an_address_that_sent_many_bad_ones(
    served: Served,
) -> None:
    with client(served.url, "127.0.0.20") as guesser:
        statuses = []
        for _ in range(7):  # 5 rejected tokens a session, 30 an address
            auth = bearer(start(guesser))
            for _ in range(5):
                bad = guesser.put("/widget/v1/user", json={"jwt": "x.y.z"}, headers=auth)
                statuses.append(bad.status_code)
        assert statuses[:30] == [400] * 30 and set(statuses[30:]) == {429}
        auth = bearer(start(guesser))
        assert_slowed(guesser.put("/widget/v1/user", json={"jwt": "x.y.z"}, headers=auth))
    with client(served.url, "127.0.0.1") as backend:
        minted = backend.post(
            "/api/v1/user-identity-jwt",
            json={
                "identityType": "EMAIL",
                "identity": "guessed.owner@example.com",
                "appId": "retale",
            },
            headers={"Authorization": basic(API_USER, served.api_token)},
        )
    assert minted.status_code == 200, minted.text
    with client(served.url, "127.0.0.20") as owner:
        view = owner.put("/widget/v1/user", json={"jwt": minted.json()["token"]}, headers=auth)
    assert view.status_code == 200, view.text
    assert view.json()["identityState"] == "TRUSTED"


# -- whose X-Forwarded-For is believed -----------------------------------------------------------


def stored_address(db: Path, response: httpx.Response) -> str:
    token = response.json()["token"]
    with Desk.open(db, create=False) as desk:
        session_id = Engine(desk).session_for_token(token)
    [(address,)] = rows(
        db, "SELECT client_address FROM widget_sessions WHERE id = ?", (session_id,)
    )
    return str(address)


def test_a_forged_forwarded_for_is_ignored_by_default(served: Served) -> None:
    with client(served.url, "127.0.0.21") as forger:
        response = start(forger, **{"X-Forwarded-For": "203.0.113.7"})
        assert stored_address(served.db, response) == "127.0.0.21"
        # Spreading bad tokens over invented addresses does not spread the count.
        statuses = [
            forger.get(
                "/widget/v1/session",
                headers={"Authorization": "Bearer nope", "X-Forwarded-For": f"198.51.100.{n}"},
            ).status_code
            for n in range(31)
        ]
        assert statuses == [401] * 30 + [429]


def test_forwarded_for_is_believed_only_from_the_allowed_proxies(served: Served) -> None:
    port = free_port()
    server = start_server(
        served.db, port, served.folder / "proxied.log", "--forwarded-allow-ips", "127.0.0.23"
    )
    url = f"http://127.0.0.1:{port}"
    try:
        forwarded = {"X-Forwarded-For": "203.0.113.8"}
        with client(url, "127.0.0.23") as proxy, client(url, "127.0.0.24") as forger:
            assert stored_address(served.db, start(proxy, **forwarded)) == "203.0.113.8"
            assert stored_address(served.db, start(forger, **forwarded)) == "127.0.0.24"
            # Behind the proxy, each customer is counted on their own.
            statuses = {
                proxy.get(
                    "/widget/v1/session",
                    headers={"Authorization": "Bearer nope", "X-Forwarded-For": f"192.0.2.{n}"},
                ).status_code
                for n in range(35)
            }
            assert statuses == {401}
    finally:
        server.terminate()
        server.wait(timeout=20)
