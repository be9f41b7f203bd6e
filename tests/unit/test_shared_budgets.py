"""Flood budgets counted in the desk: two server processes of one desk (here two apps, as
`serve --workers 2` runs) let through what one would; in memory, each would let as many."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient

from core.clock import ManualClock
from core.store import Desk
from core.store.buckets import Bucket, Short, forget_full, take_all
from core.web import create_app

PER_MIN = 5


@pytest.fixture
def two_servers(
    desk: Desk, clock: ManualClock, request: pytest.FixtureRequest
) -> Iterator[list[TestClient]]:
    with desk.transaction() as conn:
        conn.execute("UPDATE apps SET address_sessions_per_min = ?", (PER_MIN,))
    shared = getattr(request, "param", True)
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                TestClient(create_app(desk.location, clock=clock, shared_budgets=shared))
            )
            for _ in range(2)
        ]


def _starts(servers: list[TestClient], tries: int) -> list[int]:
    return [
        servers[n % 2].post("/widget/v1/sessions", json={"appId": "shop"}).status_code
        for n in range(tries)
    ]


def test_two_servers_share_one_budget(two_servers: list[TestClient]) -> None:
    codes = _starts(two_servers, PER_MIN + 3)
    assert set(codes[:PER_MIN]) <= {200, 201}
    assert codes[PER_MIN:] == [429] * 3
    refused = two_servers[1].post("/widget/v1/sessions", json={"appId": "shop"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "this address" in refused.json()["errors"][0]["detail"]


@pytest.mark.parametrize("two_servers", [False], indirect=True)
def test_in_memory_each_server_would_count_its_own(two_servers: list[TestClient]) -> None:
    codes = _starts(two_servers, 2 * PER_MIN)
    assert 429 not in codes  # what sharing the budget in the desk prevents


def test_a_refused_take_spends_from_no_bucket(desk: Desk) -> None:
    roomy, empty = Bucket("roomy", 10.0, 10 / 60_000), Bucket("empty", 1.0, 1 / 60_000)
    take_all(desk, [empty], 1_000)
    with pytest.raises(Short) as short:
        take_all(desk, [roomy, empty], 1_000)
    assert short.value.bucket == empty and 59_000 < short.value.wait_ms <= 60_000
    rows = desk.query("SELECT key FROM rate_buckets ORDER BY key")
    assert [r[0] for r in rows] == ["empty"]  # roomy was not spent
    take_all(desk, [empty], 61_000)  # refilled a minute later
    assert forget_full(desk, 200_000) == 1
