"""The widget API, admin REST API and demo portal, in process (FastAPI TestClient).

Every error path answers in the envelope `{"errors": [{"attr", "code", "detail"}]}` and
leaves the desk as it was (no new change-feed row).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from cli.main import main
from core.engine import Engine
from core.identity import Keyring
from core.store import Desk
from core.web import create_app
from core.web.limits import MAX_BODY_BYTES, FailureLimiter
from tests.helpers import seed_desk
from tests.web_helpers import DeskAt, basic, count, error, last_event, rows

JULIE = "julie.martin@example.org"
OMAR = "omar.nguyen@mail.example.net"
STORE_ORIGIN = "http://127.0.0.1:8080"


def start(client: TestClient, **headers: str) -> dict[str, str]:
    response = client.post("/widget/v1/sessions", json={"appId": "retale"}, headers=headers)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def mint(db: DeskAt, **claims: Any) -> str:
    with Desk.open(db, create=False) as desk:
        return Keyring(desk).mint(**claims)


# -- init and session tokens ----------------------------------------------------------------


def test_init_returns_a_token_the_first_message_and_the_onboarding_need(
    client: TestClient,
) -> None:
    response = client.post("/widget/v1/sessions", json={"appId": "retale"})
    assert response.status_code == 201
    body = response.json()
    assert len(body["token"]) >= 40
    assert "/demo/login" in body["firstMessage"]
    assert body["onboardingRequired"] is True and body["onboardingIdentity"] == "email"
    session = client.get(
        "/widget/v1/session", headers={"Authorization": f"Bearer {body['token']}"}
    ).json()
    assert session["identityState"] == "ANONYMOUS" and session["greeting"] is None


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "attr"),
    [
        ({"json": {"appId": "nope"}}, 404, "not_found", "appId"),
        ({"json": {}}, 400, "required", "appId"),
        ({"json": {"appId": 7}}, 400, "wrong_type", "appId"),
        ({"json": {"appId": "retale", "extra": 1}}, 400, "unknown_field", "extra"),
        ({"json": ["retale"]}, 400, "wrong_type", None),
        ({"json": "retale"}, 400, "wrong_type", None),
        (
            {"content": b'{"appId": "ret', "headers": {"content-type": "application/json"}},
            400,
            "invalid_json",
            None,
        ),
        ({"json": {"appId": "x" * 101}}, 400, "too_long", "appId"),
    ],
)
def test_bad_init_requests_are_refused_and_change_nothing(
    client: TestClient, demo_db: DeskAt, kwargs: dict, status: int, code: str, attr: str | None
) -> None:
    before = last_event(demo_db), count(demo_db, "widget_sessions")
    response = client.post("/widget/v1/sessions", **kwargs)
    assert response.status_code == status, response.text
    problem = error(response)
    assert (problem["code"], problem["attr"]) == (code, attr)
    assert (last_event(demo_db), count(demo_db, "widget_sessions")) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + "x" * 500},
    ],
)
def test_missing_or_wrong_session_tokens_get_401(
    client: TestClient, demo_db: DeskAt, headers: dict[str, str]
) -> None:
    before = last_event(demo_db)
    for method, path, body in [
        ("GET", "/widget/v1/session", None),
        ("POST", "/widget/v1/messages", {"body": "hello"}),
        ("PUT", "/widget/v1/user", {"name": "Eve", "email": JULIE}),
        ("DELETE", "/widget/v1/user", None),
        ("GET", "/widget/v1/messages", None),
        ("GET", "/widget/v1/events", None),
    ]:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert error(response)["attr"] == "token"
    assert last_event(demo_db) == before


def test_an_ended_session_token_no_longer_works(client: TestClient) -> None:
    auth = start(client)
    assert client.delete("/widget/v1/session", headers=auth).status_code == 204
    response = client.post("/widget/v1/messages", json={"body": "still there?"}, headers=auth)
    assert response.status_code == 409
    assert client.get("/widget/v1/events", headers=auth).status_code == 409


def test_bad_session_tokens_are_rate_limited_per_address(client: TestClient) -> None:
    limiter = client.app.state.web.bearer_failures  # type: ignore[attr-defined]
    statuses = [
        client.get("/widget/v1/session", headers={"Authorization": "Bearer wrong"}).status_code
        for _ in range(limiter.limit + 1)
    ]
    assert statuses[:-1] == [401] * limiter.limit and statuses[-1] == 429
    blocked = client.get("/widget/v1/session", headers={"Authorization": "Bearer wrong"})
    assert error(blocked)["code"] == "rate_limited"
    assert int(blocked.headers["Retry-After"]) >= 1


def test_the_failure_limiter_forgets_after_its_window() -> None:
    now = [0.0]
    limiter = FailureLimiter(3, 60.0, now=lambda: now[0])
    for _ in range(3):
        limiter.fail("addr:a")
    assert limiter.retry_after("addr:a") == 60 and limiter.retry_after("addr:b") == 0
    now[0] = 59.0
    assert limiter.retry_after("addr:a") == 1
    now[0] = 60.5
    assert limiter.retry_after("addr:a") == 0


# -- identity and messages ------------------------------------------------------------------


def test_onboarding_claims_and_messages_are_untrusted(client: TestClient, demo_db: DeskAt) -> None:
    auth = start(client)
    refused = client.post("/widget/v1/messages", json={"body": "hello?"}, headers=auth)
    assert refused.status_code == 409 and error(refused)["attr"] == "body"
    session = client.post(
        "/widget/v1/onboarding", json={"name": "Omar", "email": OMAR}, headers=auth
    ).json()
    assert (session["identityState"], session["identitySource"]) == ("CLAIMED", "onboarding_form")
    assert session["greeting"].startswith("Hi Omar")
    sent = client.post("/widget/v1/messages", json={"body": "my parcel?"}, headers=auth)
    assert sent.status_code == 201 and sent.json()["trusted"] is False


@pytest.mark.parametrize(
    ("payload", "code", "attr"),
    [
        ({"name": "Omar", "email": "not-an-email"}, "bad_identity", "email"),
        ({"name": "", "email": OMAR}, "bad_identity", "name"),
        ({"email": OMAR}, "required", "name"),
        ({"name": ["Omar"], "email": OMAR}, "wrong_type", "name"),
        ({"name": "Omar", "phone": "+14155550123"}, "invalid", None),
    ],
)
def test_bad_onboarding_is_refused_and_changes_nothing(
    client: TestClient, demo_db: DeskAt, payload: dict, code: str, attr: str | None
) -> None:
    auth = start(client)
    before = last_event(demo_db)
    response = client.post("/widget/v1/onboarding", json=payload, headers=auth)
    assert response.status_code == 400, response.text
    assert (error(response)["code"], error(response)["attr"]) == (code, attr)
    assert last_event(demo_db) == before


@pytest.mark.parametrize(
    ("body", "code"),
    [({"body": ""}, "invalid"), ({"body": 42}, "wrong_type"), ({"text": "hi"}, "unknown_field")],
)
def test_bad_messages_are_refused(client: TestClient, body: dict, code: str) -> None:
    auth = start(client)
    client.put("/widget/v1/user", json={"name": "Omar", "email": OMAR}, headers=auth)
    response = client.post("/widget/v1/messages", json=body, headers=auth)
    assert response.status_code == 400
    error(response)
    assert code in {problem["code"] for problem in response.json()["errors"]}


def test_oversized_bodies_get_413_whether_declared_or_streamed(
    client: TestClient, demo_db: DeskAt
) -> None:
    auth = start(client)
    before = last_event(demo_db)
    big = json.dumps({"body": "x" * (MAX_BODY_BYTES + 10)}).encode()
    declared = client.post(
        "/widget/v1/messages",
        content=big,
        headers=auth | {"content-type": "application/json"},
    )
    assert declared.status_code == 413 and error(declared)["code"] == "too_large"

    def chunks() -> Iterator[bytes]:
        for start_at in range(0, len(big), 4096):
            yield big[start_at : start_at + 4096]

    streamed = client.post(
        "/widget/v1/messages",
        content=chunks(),
        headers=auth | {"content-type": "application/json"},
    )
    assert streamed.status_code == 413 and error(streamed)["code"] == "too_large"
    assert last_event(demo_db) == before


def test_a_signed_token_makes_messages_trusted_and_greets_by_first_name(
    client: TestClient, demo_db: DeskAt
) -> None:
    auth = start(client)
    session = client.put(
        "/widget/v1/user", json={"jwt": mint(demo_db, email=JULIE)}, headers=auth
    ).json()
    assert (session["identityState"], session["identitySource"]) == ("TRUSTED", "jwt")
    assert session["greeting"].startswith("Hi Julie,")
    sent = client.post("/widget/v1/messages", json={"body": "where is it?"}, headers=auth).json()
    assert sent["trusted"] is True
    engine = Engine(Desk.open(demo_db, create=False))
    items = engine.timeline(sent["conversationId"])
    mine = next(item for item in items if item.id == sent["id"])
    assert mine.trusted is True and mine.glyph == "green"


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("garbage", "malformed"),
        ("a.b.c", "malformed"),
        ("x" * 9000, "too_large"),
    ],
)
def test_a_rejected_token_answers_its_code_and_leaves_the_session_as_it_was(
    client: TestClient, demo_db: DeskAt, token: str, code: str
) -> None:
    auth = start(client)
    client.put("/widget/v1/user", json={"name": "Omar", "email": OMAR}, headers=auth)
    before = client.get("/widget/v1/session", headers=auth).json()
    response = client.put("/widget/v1/user", json={"jwt": token}, headers=auth)
    assert response.status_code == 400
    assert (error(response)["attr"], error(response)["code"]) == ("jwt", code)
    assert client.get("/widget/v1/session", headers=auth).json() == before


def test_an_expired_token_is_rejected_with_its_code(client: TestClient, demo_db: DeskAt) -> None:
    import jwt as pyjwt

    with Desk.open(demo_db, create=False) as desk:
        token = Keyring(desk).mint(email=JULIE, ttl_s=60)
    header = pyjwt.get_unverified_header(token)
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert header["kid"] and claims["exp"] - claims["iat"] == 60
    client.app.state.web.desk.clock.now_ms = lambda: (claims["exp"] + 600) * 1000  # type: ignore[attr-defined]
    auth = start(client)
    response = client.put("/widget/v1/user", json={"jwt": token}, headers=auth)
    assert response.status_code == 400 and error(response)["code"] == "expired"


def test_a_jwt_with_an_email_is_refused_as_ambiguous(client: TestClient, demo_db: DeskAt) -> None:
    auth = start(client)
    token = mint(demo_db, email=JULIE)
    response = client.put("/widget/v1/user", json={"jwt": token, "email": OMAR}, headers=auth)
    assert response.status_code == 400 and error(response)["attr"] == "jwt"
    assert client.get("/widget/v1/session", headers=auth).json()["identityState"] == "ANONYMOUS"


def test_rejected_tokens_are_rate_limited_per_session(client: TestClient) -> None:
    auth = start(client)
    limit = client.app.state.web.jwt_session_failures.limit  # type: ignore[attr-defined]
    codes = [
        client.put("/widget/v1/user", json={"jwt": "nope"}, headers=auth).status_code
        for _ in range(limit + 1)
    ]
    assert codes == [400] * limit + [429]
    other = start(client)  # another session from the same address still gets answers
    assert client.put("/widget/v1/user", json={"jwt": "nope"}, headers=other).status_code == 400


def test_clear_user_cuts_the_session_off_from_the_previous_conversation(
    client: TestClient, demo_db: DeskAt
) -> None:
    auth = start(client)
    client.put("/widget/v1/user", json={"jwt": mint(demo_db, email=JULIE)}, headers=auth)
    sent = client.post("/widget/v1/messages", json={"body": "private stuff"}, headers=auth).json()
    assert any(
        m["body"] == "private stuff"
        for m in client.get("/widget/v1/messages", headers=auth).json()["messages"]
    )
    cleared = client.delete("/widget/v1/user", headers=auth).json()
    assert cleared["identityState"] == "ANONYMOUS" and cleared["onboardingRequired"] is True
    with Desk.open(demo_db, create=False) as desk:
        Engine(desk).reply(sent["conversationId"], "alice", "Your order ships today, Julie")
    assert client.get("/widget/v1/messages", headers=auth).json()["messages"] == []
    again = client.post("/widget/v1/messages", json={"body": "hello?"}, headers=auth)
    assert again.status_code == 409


# -- CORS -----------------------------------------------------------------------------------


def test_cors_preflight_answers_allowed_origins_only(client: TestClient) -> None:
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = client.options("/widget/v1/messages", headers=asked | {"Origin": STORE_ORIGIN})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == STORE_ORIGIN
    refused = client.options(
        "/widget/v1/messages", headers=asked | {"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers


def test_a_widget_runs_only_on_its_apps_origins(client: TestClient, demo_db: DeskAt) -> None:
    ok = client.post(
        "/widget/v1/sessions", json={"appId": "retale"}, headers={"Origin": STORE_ORIGIN}
    )
    assert ok.status_code == 201 and ok.headers["access-control-allow-origin"] == STORE_ORIGIN
    before = count(demo_db, "widget_sessions")
    refused = client.post(
        "/widget/v1/sessions", json={"appId": "retale"}, headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403 and error(refused)["code"] == "origin_not_allowed"
    assert count(demo_db, "widget_sessions") == before
    token = {"Authorization": f"Bearer {ok.json()['token']}"}
    stolen = client.get("/widget/v1/session", headers=token | {"Origin": "https://evil.example"})
    assert stolen.status_code == 403


# -- admin REST API -------------------------------------------------------------------------


def test_the_admin_api_mints_tokens_the_widget_accepts(
    client: TestClient, demo_db: DeskAt, api_auth: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/user-identity-jwt",
        json={"identityType": "EMAIL", "identity": " Julie.Martin@Example.org "},
        headers=api_auth,
    )
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    with Desk.open(demo_db, create=False) as desk:
        # Checked without a session: presenting it as a session would spend its jti.
        assert Keyring(desk).verify(token).email == JULIE
    phone = client.post(
        "/api/v1/user-identity-jwt",
        json={"identityType": "MOBILE_PHONE_NUMBER", "identity": "+1 206 555 0001"},
        headers=api_auth,
    )
    assert phone.status_code == 200
    auth = start(client)
    session = client.put("/widget/v1/user", json={"jwt": token}, headers=auth).json()
    assert session["identityState"] == "TRUSTED" and session["firstName"] == "Julie"


@pytest.mark.parametrize(
    ("payload", "code", "attr"),
    [
        ({"identityType": "EMAIL", "identity": "nope"}, "bad_identity", "identity"),
        ({"identityType": "MOBILE_PHONE_NUMBER", "identity": "555"}, "bad_identity", "identity"),
        ({"identityType": "FAX", "identity": JULIE}, "invalid_choice", "identityType"),
        ({"identity": JULIE}, "required", "identityType"),
        ({"identityType": "EMAIL", "identity": 5}, "wrong_type", "identity"),
    ],
)
def test_bad_token_requests_get_400_in_the_envelope(
    client: TestClient, api_auth: dict[str, str], payload: dict, code: str, attr: str
) -> None:
    response = client.post("/api/v1/user-identity-jwt", json=payload, headers=api_auth)
    assert response.status_code == 400
    assert (error(response)["code"], error(response)["attr"]) == (code, attr)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Bearer abc"},
    ],
)
def test_the_admin_api_needs_basic_auth(
    client: TestClient, api_auth: dict[str, str], headers: dict[str, str]
) -> None:
    for method, path in [
        ("POST", "/api/v1/user-identity-jwt"),
        ("GET", f"/api/v1/customer-profiles?email={JULIE}"),
        ("GET", "/api/v1/conversations/1/items"),
    ]:
        response = client.request(
            method, path, headers=headers, json={"identityType": "EMAIL", "identity": JULIE}
        )
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Basic")
        assert error(response)["code"] == "unauthorized"


def test_a_wrong_api_token_is_refused_and_rate_limited(
    client: TestClient, api_auth: dict[str, str]
) -> None:
    wrong = basic("backend@retale.example", "gdk_wrong")
    limit = client.app.state.web.basic_failures.limit  # type: ignore[attr-defined]
    statuses = [
        client.get(f"/api/v1/customer-profiles?email={JULIE}", headers=wrong).status_code
        for _ in range(limit + 1)
    ]
    assert statuses == [401] * limit + [429]


def test_customer_profiles_by_email_or_phone(client: TestClient, api_auth: dict[str, str]) -> None:
    found = client.get(
        "/api/v1/customer-profiles", params={"email": JULIE.upper()}, headers=api_auth
    )
    assert found.status_code == 200
    [profile] = found.json()
    assert profile["name"] == "Julie Martin" and JULIE in profile["emails"]
    by_phone = client.get(
        "/api/v1/customer-profiles", params={"phoneNumber": "+12065550001"}, headers=api_auth
    )
    assert [p["id"] for p in by_phone.json()] == [profile["id"]]
    none = client.get(
        "/api/v1/customer-profiles", params={"email": "nobody@example.com"}, headers=api_auth
    )
    assert none.status_code == 200 and none.json() == []
    for params in ({}, {"email": JULIE, "phoneNumber": "+12065550001"}):
        both = client.get("/api/v1/customer-profiles", params=params, headers=api_auth)
        assert both.status_code == 400 and error(both)["code"] == "invalid"
    bad = client.get("/api/v1/customer-profiles", params={"email": "x@"}, headers=api_auth)
    assert bad.status_code == 400 and error(bad)["attr"] == "email"


def test_conversation_items_carry_the_stored_trusted_flag(
    client: TestClient, demo_db: DeskAt, api_auth: dict[str, str]
) -> None:
    auth = start(client)
    client.post("/widget/v1/onboarding", json={"name": "Omar", "email": OMAR}, headers=auth)
    first = client.post("/widget/v1/messages", json={"body": "before login"}, headers=auth).json()
    client.put("/widget/v1/user", json={"jwt": mint(demo_db, email=OMAR)}, headers=auth)
    second = client.post("/widget/v1/messages", json={"body": "after login"}, headers=auth).json()
    assert first["conversationId"] == second["conversationId"]
    items = client.get(
        f"/api/v1/conversations/{first['conversationId']}/items", headers=api_auth
    ).json()
    by_id = {item["id"]: item for item in items}
    assert (by_id[first["id"]]["trusted"], by_id[first["id"]]["glyph"]) == (False, None)
    assert (by_id[second["id"]]["trusted"], by_id[second["id"]]["glyph"]) == (True, "green")
    assert any(item["event"] == "authenticated" for item in items)
    assert all(item["trusted"] is None for item in items if item["sender"] != "customer")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/conversations/999999/items", 404),
        ("/api/v1/conversations/abc/items", 400),
        ("/api/v1/conversations/0/items", 400),
        ("/api/v1/conversations/99999999999999999999999/items", 400),
    ],
)
def test_conversation_items_errors(
    client: TestClient, api_auth: dict[str, str], path: str, status: int
) -> None:
    response = client.get(path, headers=api_auth)
    assert response.status_code == status
    error(response)


def test_api_users_add_prints_the_token_alone_on_the_last_line(demo_db: DeskAt) -> None:
    result = CliRunner().invoke(
        main, ["--db", str(demo_db), "api-users", "add", "ops@retale.example"]
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("gdk_") and " " not in token
    stored = rows(demo_db, "SELECT token_hash FROM api_users WHERE email = 'ops@retale.example'")
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(),)]
    assert token not in repr(rows(demo_db, "SELECT * FROM api_users"))
    if isinstance(demo_db, Path):
        assert token.encode() not in demo_db.read_bytes()
    again = CliRunner().invoke(
        main, ["--db", str(demo_db), "api-users", "add", "OPS@retale.example"]
    )
    assert again.exit_code == 1 and "already exists" in again.stderr
    bad = CliRunner().invoke(main, ["--db", str(demo_db), "api-users", "add", "not an email"])
    assert bad.exit_code == 1 and "email" in bad.stderr
    assert count(demo_db, "api_users") == 1


# -- the portal and the script --------------------------------------------------------------


def test_the_portal_logs_in_and_mints_a_token_for_the_widget(
    client: TestClient, demo_db: DeskAt
) -> None:
    assert client.get("/demo").status_code == 200
    assert client.post("/demo/api/widget-token").status_code == 401
    customers = client.get("/demo/api/customers").json()
    assert customers[0] == {"name": "Julie Martin", "email": JULIE}
    assert client.post("/demo/api/login", json={"email": "nobody@example.com"}).status_code == 404
    assert client.post("/demo/api/login", json={"email": JULIE}).json()["name"] == "Julie Martin"
    assert client.get("/demo/api/me").json() == {
        "loggedIn": True,
        "name": "Julie Martin",
        "email": JULIE,
    }
    token = client.post("/demo/api/widget-token").json()["jwt"]
    with Desk.open(demo_db, create=False) as desk:
        assert Keyring(desk).verify(token, session_id="ws_portal").email == JULIE
    client.post("/demo/api/logout")
    assert client.get("/demo/api/me").json() == {"loggedIn": False}
    assert client.post("/demo/api/widget-token").status_code == 401


def test_the_portal_is_only_served_on_the_demo_desk(tmp_path: Path) -> None:
    with Desk.open(tmp_path / "real.db") as desk:
        seed_desk(desk)
        Keyring(desk).mint(email=JULIE)  # creates a real (not demo-only) desk key
    with TestClient(create_app(tmp_path / "real.db")) as client:
        for path in ("/demo", "/demo/login", "/demo/api/customers"):
            assert client.get(path).status_code == 404
        assert client.post("/demo/api/login", json={"email": JULIE}).status_code == 404


def test_widget_js_is_served_and_never_writes_html() -> None:
    script = (Path(__file__).resolve().parents[2] / "core/web/static/widget.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    assert "textContent" in script


def test_widget_js_route(client: TestClient) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "GladApp" in response.text


def test_the_openapi_document_lists_every_api_operation(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operations = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert {
        ("/widget/v1/sessions", "post"),
        ("/widget/v1/user", "put"),
        ("/widget/v1/user", "delete"),
        ("/widget/v1/messages", "post"),
        ("/widget/v1/events", "get"),
        ("/api/v1/user-identity-jwt", "post"),
        ("/api/v1/customer-profiles", "get"),
        ("/api/v1/conversations/{conversation_id}/items", "get"),
    } <= operations
    assert not any(path.startswith("/demo") for path, _ in operations)


def test_a_slow_desk_call_sends_the_next_ones_to_the_thread_pool(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import anyio

    from core.web import state as state_module

    web = client.app.state.web  # type: ignore[attr-defined]
    now = [1000.0]
    monkeypatch.setattr(state_module.time, "monotonic", lambda: now[0])

    def slow() -> str:
        now[0] += state_module.INLINE_BUDGET_S * 2  # as if the file were locked meanwhile
        return threading.current_thread().name

    def quick() -> str:
        return threading.current_thread().name

    async def calls() -> list[str]:
        return [await web.call(quick), await web.call(slow), await web.call(quick)]

    loop_thread, _, pooled = anyio.run(calls)
    assert loop_thread == threading.current_thread().name  # inline while quick
    assert pooled != loop_thread  # a worker thread after a slow call
    now[0] += state_module.THREADS_AFTER_SLOW_S + 1
    assert anyio.run(web.call, quick) == threading.current_thread().name


def test_access_logs_never_show_session_tokens() -> None:
    import logging

    from core.web.log_redaction import RedactTokens

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/widget/v1/events?token=s3cret-token&after=4", "1.1", 200),
        None,
    )
    assert RedactTokens().filter(record)
    assert "s3cret" not in record.getMessage() and "token=[redacted]&after=4" in record.getMessage()
