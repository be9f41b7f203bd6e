"""The widget's server-sent events, against a real uvicorn server in a thread.

Agent-side changes are made from the test through a second `Desk` on the same file, as an
agent console in another process would.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from core.clock import ManualClock
from core.engine import Engine
from core.identity import Keyring
from core.store import Desk
from core.web import create_app
from tests.web_helpers import DeskAt

JULIE = "julie.martin@example.org"
OMAR = "omar.nguyen@mail.example.net"
WAIT_S = 10.0
#: The app the current `serving()` block runs (to look at its state).
SERVED: list[Any] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(db: DeskAt, *, port: int | None = None, **options: Any) -> Iterator[str]:
    """The desk served by uvicorn in a thread, on `port` or a free one; its URL."""
    app = create_app(db, **({"poll_s": 0.02} | options))
    SERVED[0:] = [app]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port or free_port(),
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        assert thread.is_alive(), "server thread died"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_S)


@dataclass
class Received:
    kind: str
    data: dict[str, Any]
    id: int | None


class Stream:
    """An SSE connection read on a thread; `next()` waits for the next event.

    A raw HTTP/1.0 socket, so that `close()` really closes the connection at once (an httpx
    stream blocked in a read on another thread does not).
    """

    def __init__(
        self, url: str, token: str, last_event_id: int | None = None, *, path: str | None = None
    ) -> None:
        """The widget's stream (the token as `?token=`), or the one at `path` (the token as
        `Authorization: Bearer`)."""
        host, port = url.removeprefix("http://").split(":")
        self._sock = socket.create_connection((host, int(port)), timeout=WAIT_S)
        head = "" if last_event_id is None else f"Last-Event-ID: {last_event_id}\r\n"
        target = f"/widget/v1/events?token={token}"
        if path is not None:
            target, head = path, head + f"Authorization: Bearer {token}\r\n"
        self._sock.sendall(f"GET {target} HTTP/1.0\r\nHost: {host}\r\n{head}\r\n".encode())
        self._file = self._sock.makefile("rb")
        status = self._file.readline().decode()
        headers = []
        while (line := self._file.readline().decode().strip()) != "":
            headers.append(line.lower())
        assert " 200 " in status, (status, headers)
        assert "content-type: text/event-stream; charset=utf-8" in headers, headers
        self._sock.settimeout(None)
        self.events: queue.Queue[Received] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        kind, data, event_id = None, None, None
        try:
            for raw in self._file:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif line.startswith("id: "):
                    event_id = int(line[4:])
                elif line == "" and kind is not None:
                    self.events.put(Received(kind, data or {}, event_id))
                    kind, data, event_id = None, None, None
        except (OSError, ValueError):
            pass

    def next(self, kind: str | None = None) -> Received:
        """The next event (of `kind`, skipping others)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {kind or 'event'} within {WAIT_S} s"
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if kind is None or event.kind == kind:
                return event

    def drain(self) -> list[Received]:
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out

    def ended(self) -> bool:
        """Whether the server ended the stream (waits for it, up to WAIT_S)."""
        self._thread.join(WAIT_S)
        return not self._thread.is_alive()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(WAIT_S)


class Widget:
    """The widget's HTTP calls."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=WAIT_S)
        self.token = self.http.post("/widget/v1/sessions", json={"appId": "retale"}).json()["token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def stream(self, last_event_id: int | None = None) -> Stream:
        return Stream(self.url, self.token, last_event_id)


@pytest.fixture
def agent_desk(demo_db: DeskAt) -> Iterator[Engine]:
    desk = Desk.open(demo_db, create=False)
    yield Engine(desk)
    desk.close()


def test_agent_messages_reach_the_widget_and_customer_ones_do_not_echo(
    demo_db: DeskAt, agent_desk: Engine
) -> None:
    with serving(demo_db) as url:
        widget = Widget(url)
        widget.call("POST", "/widget/v1/onboarding", {"name": "Omar", "email": OMAR})
        stream = widget.stream()
        assert stream.next("availability:change").data == {"available": True}
        sent = widget.call("POST", "/widget/v1/messages", {"body": "where is my parcel?"})
        started = stream.next("conversation:started")
        assert started.data == {"id": sent["conversationId"]}
        agent_desk.reply(sent["conversationId"], "alice", "<b>On its way</b> [green]✔[/]")
        received = stream.next("message:received")
        assert received.data["body"] == "<b>On its way</b> [green]✔[/]"
        assert received.data["sender"] == "agent" and received.id is not None
        assert received.id > (started.id or 0)
        assert all(event.data.get("body") != "where is my parcel?" for event in stream.drain())
        agent_desk.close(sent["conversationId"], "alice")
        assert stream.next("conversation:ended").data == {"id": sent["conversationId"]}
        stream.close()


def test_last_event_id_resumes_where_the_stream_stopped(
    demo_db: DeskAt, agent_desk: Engine
) -> None:
    with serving(demo_db) as url:
        widget = Widget(url)
        widget.call("POST", "/widget/v1/onboarding", {"name": "Omar", "email": OMAR})
        stream = widget.stream()
        sent = widget.call("POST", "/widget/v1/messages", {"body": "hello"})
        agent_desk.reply(sent["conversationId"], "alice", "first")
        first = stream.next("message:received")
        stream.close()
        agent_desk.reply(sent["conversationId"], "alice", "second")
        agent_desk.reply(sent["conversationId"], "alice", "third")
        resumed = widget.stream(last_event_id=first.id)
        bodies = [resumed.next("message:received").data["body"] for _ in range(2)]
        assert bodies == ["second", "third"]
        resumed.close()


def test_after_clear_user_the_stream_carries_nothing_of_the_previous_chat(
    demo_db: DeskAt, agent_desk: Engine
) -> None:
    with serving(demo_db) as url:
        widget = Widget(url)
        widget.call("PUT", "/widget/v1/user", {"name": "Omar", "email": OMAR})
        sent = widget.call("POST", "/widget/v1/messages", {"body": "my account"})
        stream = widget.stream()
        widget.call("DELETE", "/widget/v1/user")
        agent_desk.reply(sent["conversationId"], "alice", "secret reply for Omar")
        widget.call("POST", "/widget/v1/onboarding", {"name": "Julie", "email": JULIE})
        other = widget.call("POST", "/widget/v1/messages", {"body": "I am Julie"})
        assert other["conversationId"] != sent["conversationId"]
        agent_desk.reply(other["conversationId"], "bruno", "hello Julie")
        received = stream.next("message:received")
        assert received.data["body"] == "hello Julie"
        assert all(e.data.get("body") != "secret reply for Omar" for e in stream.drain())
        stream.close()


def test_identity_expired_is_pushed_when_the_trust_window_lapses(demo_db: DeskAt) -> None:
    clock = ManualClock(time.time_ns() // 1_000_000)
    with Desk.open(demo_db, create=False, clock=clock) as desk:
        token = Keyring(desk).mint(email=JULIE)
    with serving(demo_db, clock=clock, tick_s=0.02) as url:
        widget = Widget(url)
        assert widget.call("PUT", "/widget/v1/user", {"jwt": token})["identityState"] == "TRUSTED"
        stream = widget.stream()
        stream.next("availability:change")
        clock.advance(3601)
        expired = stream.next("identity:expired")
        assert "at" in expired.data
        assert widget.call("GET", "/widget/v1/session")["identityState"] == "CLAIMED"
        sent = widget.call("POST", "/widget/v1/messages", {"body": "still me"})
        assert sent["trusted"] is False
        stream.close()


def test_availability_changes_when_no_agent_is_available(
    demo_db: DeskAt, agent_desk: Engine
) -> None:
    with serving(demo_db) as url:
        widget = Widget(url)
        stream = widget.stream()
        assert stream.next("availability:change").data == {"available": True}
        with agent_desk.desk.transaction() as conn:
            conn.execute("UPDATE agents SET available = 0")
            agent_desk.desk.emit("agent.updated")
        assert stream.next("availability:change").data == {"available": False}
        stream.close()


def test_the_server_lets_go_of_a_stream_the_client_closed(demo_db: DeskAt) -> None:
    with serving(demo_db) as url:
        hub = SERVED[0].state.web.hub
        widget = Widget(url)
        streams = [widget.stream() for _ in range(3)]
        for stream in streams:
            stream.next("availability:change")
        assert len(hub._subscribers) == 3
        for stream in streams:
            stream.close()
        deadline = time.monotonic() + WAIT_S
        while hub._subscribers:
            assert time.monotonic() < deadline, "streams still subscribed after disconnect"
            time.sleep(0.01)


def test_a_stream_for_an_ended_session_is_refused(demo_db: DeskAt) -> None:
    with serving(demo_db) as url:
        widget = Widget(url)
        widget.http.delete("/widget/v1/session")
        response = httpx.get(f"{url}/widget/v1/events", params={"token": widget.token})
        assert response.status_code == 409


# -- how the server learns of other processes' changes ---------------------------------------


class CountingReads:
    """Wraps the served desk's `events_after` (the hub's read of the change feed) to count
    calls."""

    def __init__(self, desk: Desk) -> None:
        self.calls = 0
        self._read = desk.events_after
        desk.events_after = self  # type: ignore[method-assign]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self._read(*args, **kwargs)


def test_an_idle_server_reads_the_feed_only_when_it_must_poll(
    demo_db: DeskAt, agent_desk: Engine, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the server is told of commits (LISTEN/NOTIFY) and reads nothing while the
    desk is idle (its 5 s safety read put out of the way here); on SQLite it polls (every
    20 ms here)."""
    from core.web import hub

    monkeypatch.setattr(hub, "PUSHED_SAFETY_S", 60.0)
    with serving(demo_db) as url:
        widget = Widget(url)
        widget.call("POST", "/widget/v1/onboarding", {"name": "Omar", "email": OMAR})
        sent = widget.call("POST", "/widget/v1/messages", {"body": "anyone there?"})
        stream = widget.stream()
        stream.next("availability:change")
        served = SERVED[0].state.web.desk
        deadline = time.monotonic() + WAIT_S
        while served.pushes_changes and served.data_version() < 1:  # listening, and read once
            assert time.monotonic() < deadline, "the server never listened"
            time.sleep(0.01)
        time.sleep(0.2)
        reads = CountingReads(served)
        time.sleep(1.0)
        idle_reads = reads.calls
        agent_desk.reply(sent["conversationId"], "alice", "here")
        assert stream.next("message:received").data["body"] == "here"
        stream.close()
    if backend == "postgresql":
        assert idle_reads == 0
        assert reads.calls >= 1  # the reply was read, once told of it
    else:
        assert idle_reads >= 10


def test_another_process_message_is_pushed_to_the_stream_at_once(
    demo_db: DeskAt, agent_desk: Engine, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With polling and the safety tick far away (60 s), an agent's reply written through
    another desk reaches an open stream at once: pushed, not polled. (How fast is measured
    in bench/backends.py; here the bound only tells a push from the 60 s poll, so a loaded
    machine slows the test rather than fails it.)"""
    if backend != "postgresql":
        pytest.skip("SQLite desks are polled: only PostgreSQL pushes its changes")
    from core.web import hub

    monkeypatch.setattr(hub, "PUSHED_SAFETY_S", 60.0)
    with serving(demo_db, poll_s=60.0) as url:
        widget = Widget(url)
        widget.call("POST", "/widget/v1/onboarding", {"name": "Omar", "email": OMAR})
        sent = widget.call("POST", "/widget/v1/messages", {"body": "where is it?"})
        stream = widget.stream()
        stream.next("availability:change")
        delays = []
        for n in range(5):
            time.sleep(0.2)  # idle in between: each reply is a wake-up of its own
            written = time.monotonic()
            agent_desk.reply(sent["conversationId"], "alice", f"reply {n}")
            assert stream.next("message:received").data["body"] == f"reply {n}"
            delays.append(time.monotonic() - written)
        stream.close()
    assert max(delays) < 10.0, delays
