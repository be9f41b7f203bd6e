"""`GET /api/v1/audit`: the token audit over HTTP, its pages, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.identity import Keyring, TokenRejected
from core.report.audit import MAX_AUDIT_PAGE
from core.store import Desk
from tests.web_helpers import basic, error

OMAR = "omar.nguyen@mail.example.net"


def widget_session(client: TestClient) -> dict[str, str]:
    response = client.post("/widget/v1/sessions", json={"appId": "retale"})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_a_widget_rejection_is_listed_with_who_the_session_claimed_to_be(
    client: TestClient, api_auth: dict[str, str]
) -> None:
    auth = widget_session(client)
    client.put("/widget/v1/user", json={"name": "Omar", "email": OMAR}, headers=auth)
    forged = "eyJhbGciOiJIUzI1NiIsImtpZCI6InJldGFsZS1kZW1vLTIwMjYifQ.e30.c2ln"
    assert client.put("/widget/v1/user", json={"jwt": forged}, headers=auth).status_code == 400
    response = client.get("/api/v1/audit", headers=api_auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["nextCursor"] is None
    [entry] = body["rejections"]
    assert (entry["code"], entry["kid"], entry["appId"], entry["origin"]) == (
        "alg_not_allowed",
        "retale-demo-2026",
        "retale",
        "widget",
    )
    assert entry["sessionId"].startswith("ws_") and entry["clientAddress"] == "testclient"
    assert entry["claimed"]["state"] == "CLAIMED" and entry["claimed"]["email"] == OMAR
    assert forged not in response.text and "c2ln" not in response.text
    by_session = client.get(f"/api/v1/audit?session={entry['sessionId']}", headers=api_auth)
    assert len(by_session.json()["rejections"]) == 1
    by_code = client.get("/api/v1/audit?code=expired&since=1h&app=retale", headers=api_auth)
    assert by_code.status_code == 200 and by_code.json()["rejections"] == []


def test_the_audit_needs_an_api_user(client: TestClient, api_auth: dict[str, str]) -> None:
    assert client.get("/api/v1/audit").status_code == 401
    wrong = basic("backend@retale.example", "not-the-token")
    response = client.get("/api/v1/audit", headers=wrong)
    assert response.status_code == 401 and error(response)["code"] == "unauthorized"
    widget = widget_session(client)
    assert client.get("/api/v1/audit", headers=widget).status_code == 401


@pytest.mark.parametrize(
    ("query", "attr"),
    [
        ("since=yesterday", "since"),
        ("since=" + "9" * 41, "since"),
        ("since=%00", "since"),
        ("code=nope", "code"),
        ("code=expired%27%20OR%201%3D1", "code"),
        ("session=ws_%1b%5b2J", "session"),
        ("session=" + "s" * 101, "session"),
        ("app=nope", "app"),
        ("cursor=abc", "cursor"),
        ("cursor=1.99999999999999999999", "cursor"),
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("limit=lots", "limit"),
    ],
)
def test_bad_parameters_get_400_in_the_envelope(
    client: TestClient, api_auth: dict[str, str], query: str, attr: str
) -> None:
    response = client.get(f"/api/v1/audit?{query}", headers=api_auth)
    assert response.status_code == 400, response.text
    assert error(response)["attr"] == attr
    assert set(error(response)) == {"attr", "code", "detail"}


def test_pages_are_keyset_and_a_huge_limit_is_cut(
    client: TestClient, demo_db: Path, api_auth: dict[str, str]
) -> None:
    with Desk.open(demo_db, create=False) as desk:
        keyring = Keyring(desk)
        for n in range(MAX_AUDIT_PAGE + 20):
            keyring.audit(TokenRejected("malformed", f"#{n}"), f"ws_{n % 3}", None)
    huge = client.get(f"/api/v1/audit?limit={10**30}", headers=api_auth)
    assert huge.status_code == 200
    assert len(huge.json()["rejections"]) == MAX_AUDIT_PAGE
    seen: list[int] = []
    cursor = ""
    while True:
        page = client.get(f"/api/v1/audit?limit=200{cursor}", headers=api_auth).json()
        seen += [entry["id"] for entry in page["rejections"]]
        if page["nextCursor"] is None:
            break
        cursor = f"&cursor={page['nextCursor']}"
    assert len(seen) == len(set(seen)) == MAX_AUDIT_PAGE + 20
    assert seen == sorted(seen, reverse=True)


def test_the_audit_is_in_the_openapi_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/v1/audit"]["get"]
    assert operation["security"] == [{"apiUser": []}, {"agentToken": []}]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert names - {"authorization"} == {"since", "code", "session", "app", "cursor", "limit"}
    assert "RejectionOut" in schema["components"]["schemas"]
