"""A PostgreSQL outage under a real `gladdesk serve`: the server answers 503 at once while the
database is down, loses nothing it acknowledged, keeps its event streams, and serves again by
itself when the database is back.

The database server is a private one (tests/pg_cluster.py), stopped and started mid-run.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.engine import Engine
from core.identity.api_users import add_api_user
from core.store import Desk
from sim.demo_desk import build_demo_into
from tests.e2e.server import free_port, start_server
from tests.pg_cluster import Cluster, private_cluster
from tests.web_helpers import basic, rows

pytestmark = pytest.mark.e2e

OMAR = "omar.nguyen@mail.example.net"
#: An answer during the outage must come within this (the pool waits 3 s at most).
FAST_S = 3.5
#: How long the server may take to serve again once the database is back.
BACK_WITHIN_S = 15.0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    yield from private_cluster()


class Events:
    """An SSE stream read on a thread: `kinds` collects (event, data) as they come."""

    def __init__(self, url: str, token: str) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.ended = threading.Event()
        self._http = httpx.Client(timeout=httpx.Timeout(5.0, read=60.0))
        self._response = self._http.send(
            self._http.build_request("GET", f"{url}/widget/v1/events", params={"token": token}),
            stream=True,
        )
        assert self._response.status_code == 200, self._response.read()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        kind = None
        try:
            for line in self._response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind is not None:
                    self.events.put((kind, json.loads(line[6:])))
                    kind = None
        except httpx.HTTPError:
            pass
        self.ended.set()

    def next(self, kind: str, within_s: float) -> Any:
        deadline = time.monotonic() + within_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                got, data = self.events.get(timeout=left)
            except queue.Empty:
                break
            if got == kind:
                return data
        raise AssertionError(f"no {kind} within {within_s} s")

    def close(self) -> None:
        self._response.close()
        self._http.close()


def assert_unavailable(response: httpx.Response, took_s: float) -> None:
    assert response.status_code == 503, response.text
    assert took_s <= FAST_S, took_s
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body == {
        "errors": [{"attr": None, "code": "unavailable", "detail": body["errors"][0]["detail"]}]
    }
    detail = body["errors"][0]["detail"]
    assert "try again" in detail and "127.0.0.1" not in detail  # nothing of the server leaks


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call(*args, **kwargs)
    return response, time.monotonic() - started


def test_an_outage_is_503_at_once_and_the_same_server_serves_again(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLADDESK_STATE_DIR", str(tmp_path / "state"))
    url = build_demo_into(cluster.create_database("desk"))
    with Desk.open(url, create=False) as desk:
        admin = basic("ops@retale.example", add_api_user(desk, "ops@retale.example"))
    port = free_port()
    log = tmp_path / "serve.log"
    server = start_server(url, port, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            run_the_outage(cluster, url, http, admin)
        # The change feed reads again on its own schedule (every second while the database
        # is away): requests may be served again a moment before it says so.
        back = "change feed: the desk's database answers again"
        deadline = time.monotonic() + 15
        while back not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        text = log.read_text()  # before the shutdown, which cuts what streams are left
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "Traceback" not in text, text
    # The outage is told once by each part of the server, not once a request.
    assert text.count("change feed: the desk's database is unreachable") == 1, text
    assert text.count("change feed: the desk's database answers again") == 1, text
    assert text.count("engine tick: the desk's database is unreachable") <= 1, text


def run_the_outage(cluster: Cluster, url: str, http: httpx.Client, admin: dict[str, str]) -> None:
    token = http.post("/widget/v1/sessions", json={"appId": "retale"}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    answer = http.post("/widget/v1/onboarding", json={"name": "Omar", "email": OMAR}, headers=auth)
    assert answer.status_code == 200, answer.text
    acknowledged = []
    for n in range(5):
        sent = http.post("/widget/v1/messages", json={"body": f"before {n}"}, headers=auth)
        assert sent.status_code == 201, sent.text
        acknowledged.append(sent.json()["id"])
    conversation_id = sent.json()["conversationId"]
    stream = Events(str(http.base_url).rstrip("/"), token)
    stream.next("availability:change", within_s=10)

    cluster.stop()
    for _ in range(3):  # each of them, not only the first
        response, took = timed(
            http.post, "/widget/v1/messages", json={"body": "during"}, headers=auth
        )
        assert_unavailable(response, took)
    assert_unavailable(*timed(http.get, "/widget/v1/session", headers=auth))
    assert_unavailable(*timed(http.post, "/widget/v1/sessions", json={"appId": "retale"}))
    assert_unavailable(*timed(http.get, "/widget/v1/messages", headers=auth))
    assert_unavailable(
        *timed(http.get, f"/api/v1/conversations/{conversation_id}/items", headers=admin)
    )
    assert_unavailable(*timed(http.get, "/widget/v1/events", params={"token": token}))
    assert http.get("/healthz").status_code == 200  # the process itself is alive
    time.sleep(3)  # a while down: the streams and the background tasks meet the outage too
    assert not stream.ended.is_set()
    # Past the server's short hold on a failed try: this one waits on the pool, boundedly.
    assert_unavailable(*timed(http.get, "/widget/v1/session", headers=auth))

    cluster.start()
    deadline = time.monotonic() + BACK_WITHIN_S
    while (response := http.get("/widget/v1/session", headers=auth)).status_code != 200:
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, "the server did not serve again"
        time.sleep(0.2)
    sent = http.post("/widget/v1/messages", json={"body": "after"}, headers=auth)
    assert sent.status_code == 201, sent.text
    acknowledged.append(sent.json()["id"])
    stored = rows(url, "SELECT id, body FROM items WHERE conversation_id = ? AND sender = 'customer'"
                  " ORDER BY id", (conversation_id,))  # fmt: skip
    assert [row[0] for row in stored] == acknowledged
    assert [row[1] for row in stored] == [f"before {n}" for n in range(5)] + ["after"]

    # The stream opened before the outage is still live: another process's reply reaches it
    # (the server's LISTEN connection came back by itself).
    with Desk.open(url, create=False) as desk:
        agent = Engine(desk).conversation(conversation_id).assignee
        Engine(desk).reply(conversation_id, agent or "alice", "we are back")
    assert stream.next("message:received", within_s=10)["body"] == "we are back"
    stream.close()
