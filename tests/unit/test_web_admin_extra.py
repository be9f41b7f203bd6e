"""Report endpoint and public error wording: the report over HTTP, unknown apps not listed."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from core.report import report_json
from core.store import Desk
from tests.web_helpers import error


def test_the_report_endpoint_matches_the_library(
    client: TestClient,
    demo_db: Path,
    api_auth: dict[str, str],
) -> None:
    response = client.get(
        "/api/v1/reports/authentication?since=2026-10-01&until=2026-11-20", headers=api_auth
    )
    assert response.status_code == 200, response.text
    with Desk.open(demo_db, create=False) as desk:
        expected = report_json(desk, since="2026-10-01", until="2026-11-20")
    assert response.json() == expected
    assert response.json() != {}


def test_the_report_needs_credentials_and_good_dates(
    client: TestClient,
    api_auth: dict[str, str],
) -> None:
    assert client.get("/api/v1/reports/authentication").status_code == 401
    bad = client.get("/api/v1/reports/authentication?since=yesterday", headers=api_auth)
    assert bad.status_code == 400
    assert (error(bad)["code"], error(bad)["attr"]) == ("invalid", "since")
    bad_until = client.get("/api/v1/reports/authentication?until=2026-13-01", headers=api_auth)
    assert (bad_until.status_code, error(bad_until)["attr"]) == (400, "until")
    reversed_range = client.get(
        "/api/v1/reports/authentication?since=2026-11-20&until=2026-10-01", headers=api_auth
    )
    assert reversed_range.status_code == 400


def test_an_unknown_app_is_refused_without_listing_the_desks_apps(
    client: TestClient,
) -> None:
    response = client.post("/widget/v1/sessions", json={"appId": "nope"})
    assert response.status_code == 404
    detail = error(response)
    assert detail["attr"] == "appId" and "nope" in detail["detail"]
    assert "retale" not in response.text
