"""Event streams are capped per widget session and per client address, against a real
`gladdesk serve`: beyond a cap a new stream gets 429 with Retry-After, and a closed stream
gives its place back. Opening streams has a budget a minute too, per session and per address,
so that a loop that opens and drops streams is slowed. Clients bound to different loopback addresses stand for different
customers."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from core.web.hub import (
    MAX_STREAMS_PER_ADDRESS,
    MAX_STREAMS_PER_SESSION,
    STREAM_OPENS_PER_ADDRESS_PER_MIN,
    STREAM_OPENS_PER_SESSION_PER_MIN,
)
from tests.e2e.server import free_port, start_server
from tests.web_helpers import copy_desk

APP = "retale"


@pytest.fixture(scope="module")
def url(built_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("streams")
    db = copy_desk(built_demo, folder)
    port = free_port()
    server = start_server(db, port, folder / "server.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def client(url: str, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=url, transport=transport, timeout=10)


async def new_session(http: httpx.AsyncClient) -> str:
    response = await http.post("/widget/v1/sessions", json={"appId": APP})
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


@asynccontextmanager
async def stream(http: httpx.AsyncClient, token: str) -> AsyncIterator[httpx.Response]:
    """An event stream, open until the block ends (its first chunk read when it is a 200)."""
    async with http.stream(
        "GET", "/widget/v1/events", headers={"Authorization": f"Bearer {token}"}
    ) as response:
        if response.status_code == 200:
            chunks = response.aiter_raw()  # held until the block ends: dropping it closes
            assert (await anext(chunks)).startswith(b"retry:")
            yield response
        else:
            await response.aread()
            yield response


def refused(response: httpx.Response, scope: str) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) > 0
    error = response.json()["errors"][0]
    assert error["code"] == "rate_limited" and f"for this {scope}" in error["detail"]


async def test_one_session_holds_a_few_streams_then_429(url: str) -> None:
    async with client(url, "127.0.0.2") as http, AsyncExitStack() as open_streams:
        token = await new_session(http)
        for _ in range(MAX_STREAMS_PER_SESSION):
            response = await open_streams.enter_async_context(stream(http, token))
            assert response.status_code == 200
        async with stream(http, token) as extra:
            refused(extra, "session")
        # another customer's session, from another address, is not affected
        async with (
            client(url, "127.0.0.3") as other,
            stream(other, await new_session(other)) as theirs,
        ):
            assert theirs.status_code == 200
    # every stream closed: the session's places are free again
    async with client(url, "127.0.0.2") as http:
        for _ in range(20):  # the server notices the disconnects within a poll or two
            async with stream(http, token) as again:
                if again.status_code == 200:
                    break
            await asyncio.sleep(0.1)
        assert again.status_code == 200


async def test_one_address_holds_a_bounded_number_of_streams(url: str) -> None:
    sessions = MAX_STREAMS_PER_ADDRESS // MAX_STREAMS_PER_SESSION + 1
    async with client(url, "127.0.0.5") as maker:  # sessions made elsewhere: only streams count
        tokens = [await new_session(maker) for _ in range(sessions)]
    async with client(url, "127.0.0.4") as http, AsyncExitStack() as open_streams:
        opened = 0
        for token in tokens:
            for _ in range(MAX_STREAMS_PER_SESSION):
                if opened == MAX_STREAMS_PER_ADDRESS:
                    break
                response = await open_streams.enter_async_context(stream(http, token))
                assert response.status_code == 200, response.text
                opened += 1
        async with stream(http, tokens[-1]) as extra:
            refused(extra, "address")
        # the same session from another address still gets a stream
        async with (
            client(url, "127.0.0.6") as elsewhere,
            stream(elsewhere, tokens[-1]) as theirs,
        ):
            assert theirs.status_code == 200


async def open_until_refused(
    http: httpx.AsyncClient, tokens: list[str], per_session: int, cap: int
) -> tuple[int, httpx.Response]:
    """Open and close streams (`per_session` on each token in turn) until one is refused;
    how many opened, and the refusal. Fails if more than the budget's burst plus what it
    refilled meanwhile (`cap` a minute) get through."""
    started = time.monotonic()
    opened = 0
    while True:
        async with stream(http, tokens[min(opened // per_session, len(tokens) - 1)]) as response:
            if response.status_code != 200:
                return opened, response
        opened += 1
        assert opened <= cap + (time.monotonic() - started) * cap / 60 + 1, "never refused"


def spent(response: httpx.Response, scope: str, per_min: int) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) > 0
    error = response.json()["errors"][0]
    assert error["code"] == "rate_limited"
    assert f"opened by this {scope} ({per_min} a minute at most)" in error["detail"]


async def test_a_reconnect_loop_is_slowed_to_the_session_budget(url: str) -> None:
    budget = STREAM_OPENS_PER_SESSION_PER_MIN
    async with client(url, "127.0.0.7") as http:
        token, other = await new_session(http), await new_session(http)
        opened, refused_open = await open_until_refused(http, [token], budget, budget)
        assert opened >= budget
        spent(refused_open, "session", budget)
        # the loop's refusals spend nothing of its address: another session there still streams
        async with stream(http, other) as theirs:
            assert theirs.status_code == 200


async def test_opening_streams_on_many_sessions_is_slowed_to_the_address_budget(
    url: str,
) -> None:
    per_session = STREAM_OPENS_PER_SESSION_PER_MIN
    budget = STREAM_OPENS_PER_ADDRESS_PER_MIN
    async with client(url, "127.0.0.9") as maker:
        tokens = [await new_session(maker) for _ in range(2 * budget // per_session)]
    async with client(url, "127.0.0.8") as http:
        opened, refused_open = await open_until_refused(http, tokens, per_session, budget)
        assert opened >= budget
        spent(refused_open, "address", budget)
        # the same session from another address is not slowed by this one's loop
        async with client(url, "127.0.0.10") as elsewhere, stream(elsewhere, tokens[-1]) as ok:
            assert ok.status_code == 200
