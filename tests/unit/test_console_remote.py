"""The console's remote backend (`core.console.remote`) on its own: signing in, an agent's
narrower view, the link going down and coming back with every change once, a revoked token,
and servers that answer wrong (unreachable, not a gladdesk server, hostile frames).

The shared contract with the local backend is tests/unit/test_console_data.py.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.console.data import HIT_END, HIT_START, QueueQuery, QueueRow, SignedOut, Unreachable
from core.console.remote import RemoteConsoleData, marked_snippet
from core.engine import Engine
from core.errors import Conflict, NotFound
from core.setup import DeskAdmin
from core.store import Desk
from tests.console_helpers import frozen_clock
from tests.unit.test_agent_api import three_agents
from tests.unit.test_console_data import BRUNOS_OPEN, TRUSTED_OPEN
from tests.unit.test_web_events import free_port, serving

WAIT_S = 20.0


@dataclass
class Served:
    db: Path
    url: str
    port: int
    tokens: dict[str, str]


@pytest.fixture
def tokens(demo_db: Path) -> dict[str, str]:
    """The demo desk's agents' tokens; alice works only the Chat inbox, dana is an admin."""
    return three_agents(demo_db)


@pytest.fixture
def served(demo_db: Path, tokens: dict[str, str]) -> Iterator[Served]:
    port = free_port()
    with serving(demo_db, port=port, clock=frozen_clock(), tick_s=3600) as url:
        yield Served(demo_db, url, port, tokens)


@pytest.fixture
def opened() -> Iterator[list[RemoteConsoleData]]:
    consoles: list[RemoteConsoleData] = []
    yield consoles
    for console in consoles:
        console.close()


def sign_in(served: Served, who: str, opened: list[RemoteConsoleData]) -> RemoteConsoleData:
    console = RemoteConsoleData.open(served.url, served.tokens[who], agent=who)
    opened.append(console)
    return console


def until(what: str, condition: object) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(error.value)
    assert text and "\n" not in text
    return text


# -- signing in -------------------------------------------------------------------------------


def test_a_token_signs_in_its_own_agent_only(served: Served) -> None:
    with pytest.raises(Conflict, match="this token is agent alice's, not bruno's") as error:
        RemoteConsoleData.open(served.url, served.tokens["alice"], agent="bruno")
    assert "--agent alice" in one_line(error)
    with pytest.raises(SignedOut, match="revoked or replaced") as refused:
        RemoteConsoleData.open(served.url, "gda_" + "x" * 43, agent="alice")
    assert served.tokens["alice"] not in one_line(refused)


def test_an_unreachable_server_is_one_line_at_once() -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(Unreachable, match="cannot be reached .*nothing was sent") as error:
        RemoteConsoleData.open(f"http://127.0.0.1:{port}", "gda_" + "x" * 43, agent="alice")
    one_line(error)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "url", ["ftp://desk.example", "desk.example", "http://", "http://desk.example/?x=1"]
)
def test_an_address_that_is_not_a_server_is_refused(url: str) -> None:
    with pytest.raises(Exception, match="address") as error:
        RemoteConsoleData.open(url, "gda_" + "x" * 43, agent="alice")
    one_line(error)


def answering(handler: object) -> httpx.MockTransport:
    return httpx.MockTransport(handler)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (200, b"<html>a web page</html>", "not the agent API's JSON"),
        (200, b'{"handle": 7}', "something else"),
        (200, b"[]", "something else"),
        (500, b"oops", "answered HTTP 500"),
        (503, b'{"errors": [{"attr": null, "code": "store", "detail": "down"}]}', "down"),
    ],
)
def test_a_server_that_is_not_the_agent_api_is_one_clear_line(
    status: int, body: bytes, words: str
) -> None:
    transport = answering(lambda request: httpx.Response(status, content=body))
    with pytest.raises(Unreachable, match=words) as error:
        RemoteConsoleData.open(
            "http://desk.test", "gda_" + "x" * 43, agent="a", transport=transport
        )
    one_line(error)


# -- what an agent sees -----------------------------------------------------------------------


def test_an_agent_sees_only_their_own_and_their_inboxes(
    served: Served, opened: list[RemoteConsoleData]
) -> None:
    alice = sign_in(served, "alice", opened)
    rows: list[QueueRow] = []
    page = alice.queue_page(QueueQuery(view="all", status="all"), limit=200)
    rows += page.rows
    while page.next is not None:
        page = alice.queue_page(QueueQuery(view="all", status="all"), after=page.next)
        rows += page.rows
    assert rows and all(
        r.assignee == "alice" or (r.assignee is None and r.inbox == "Chat") for r in rows
    )
    with pytest.raises(NotFound, match=f"no conversation {BRUNOS_OPEN}"):
        alice.conversation(BRUNOS_OPEN)
    with pytest.raises(NotFound):
        alice.timeline(BRUNOS_OPEN)
    with pytest.raises(NotFound):
        alice.reply(BRUNOS_OPEN, "not mine")
    # Transfer targets are every agent and inbox, though she works one inbox.
    assert alice.inboxes() == ["Chat", "Returns", "Billing"]
    assert "bruno" in [a.handle for a in alice.agents()]


# -- the link -------------------------------------------------------------------------------


def customer_chat(db: Path, name: str) -> int:
    """A new chat by a customer, in another connection to the desk."""
    with Desk.open(db, clock=frozen_clock(), create=False) as desk:
        engine = Engine(desk)
        session = engine.init_session("retale").session_id
        engine.set_user(session, name=name, email=f"{name.split()[0].lower()}@example.com")
        return engine.send_message(session, f"Hello, {name} here").conversation_id


def test_changes_made_while_the_server_is_away_arrive_once_it_is_back(
    demo_db: Path, tokens: dict[str, str], opened: list[RemoteConsoleData]
) -> None:
    """The server stops under the console and comes back on the same address: the link is
    down meanwhile (actions refused at once, nothing written), and every change made in
    between arrives after, in order, none twice and none missed."""
    port = free_port()
    first_server = contextlib.ExitStack()
    url = first_server.enter_context(serving(demo_db, port=port, clock=frozen_clock()))
    dana = RemoteConsoleData.open(url, tokens["dana"], agent="dana")
    opened.append(dana)
    start = dana.last_change_id()
    assert dana.link().state == "up"
    before = customer_chat(demo_db, "Ada Before")

    def seen() -> list[int]:
        return [e.id for e in dana.changes_after(start, limit=100_000)]

    def conversations_seen() -> set[int | None]:
        return {e.conversation_id for e in dana.changes_after(start, limit=100_000)}

    until("the first chat", lambda: before in conversations_seen())
    first_server.close()
    until("the link to drop", lambda: dana.link().state == "down")
    link = dana.link()
    assert link.since_ms is not None and link.detail
    with pytest.raises(Unreachable, match="nothing was sent") as refused:
        dana.reply(TRUSTED_OPEN, "Hello?")
    one_line(refused)
    during = [customer_chat(demo_db, f"Bea During{n}") for n in range(3)]
    until("a try to reconnect", lambda: dana.link().attempts >= 1)
    with serving(demo_db, port=port, clock=frozen_clock()):
        until("the link to come back", lambda: dana.link().state == "up")
        until("the chats made meanwhile", lambda: set(during) <= conversations_seen())
        ids = seen()
        assert ids == sorted(set(ids))  # in order, none twice
        with Desk.open(demo_db, create=False) as desk:
            feed = [e.id for e in desk.events_after(start, 100_000) if e.conversation_id]
        assert ids == feed  # an admin sees every conversation's change: none missed
        assert dana.reply(during[0], "Back now") > 0
        with Desk.open(demo_db, create=False) as desk:
            hello = desk.query_one("SELECT count(*) FROM items WHERE body = 'Hello?'")
        assert hello is not None and hello[0] == 0


def test_a_revoked_token_ends_the_session_and_no_request_follows(
    served: Served, opened: list[RemoteConsoleData]
) -> None:
    bruno = sign_in(served, "bruno", opened)
    with Desk.open(served.db, create=False) as desk:
        DeskAdmin(desk).issue_token("bruno", rotate=True)
    until("the session to end", lambda: bruno.link().state == "ended")
    assert "revoked or replaced" in bruno.link().detail
    assert bruno.changed()  # the tail looks at once
    with pytest.raises(SignedOut):
        bruno.me()


def test_hostile_stream_frames_are_skipped_and_good_ones_still_arrive() -> None:
    me = {
        "id": 1,
        "handle": "alice",
        "name": "Alice",
        "role": "agent",
        "capacity": 5,
        "available": True,
        "openConversations": 0,
        "inboxes": [],
        "everyInbox": True,
        "lastEventId": 10,
        "now": "2026-11-20T08:00:00.000Z",
    }
    good = {"id": 12, "kind": "item.created", "at": "2026-11-20T08:00:01.000Z",
            "conversationId": 5, "itemId": 9, "profileId": 3, "agentId": 1}  # fmt: skip
    frames = [
        "retry: 2000\n\n",
        'event: item.created\ndata: {"kind": "x"}\n\n',  # no id (before any: an id carries on)
        'event: item.created\ndata: {"not json\nid: 11\n\n',
        "event: item.created\ndata: [1, 2]\nid: 11\n\n",
        'event: item.created\ndata: {"kind": "x", "conversationId": "five"}\nid: 11\n\n',
        'event: item.created\ndata: {"kind": "x"}\nid: eleven\n\n',
        "event: item.created\ndata: " + "x" * 70_000 + "\nid: 11\n\n",
        f"event: item.created\ndata: {json.dumps(good)}\nid: 12\n\n",
        f"event: item.created\ndata: {json.dumps(good)}\nid: 12\n\n",  # the same again
        f"event: item.created\ndata: {json.dumps(good | {'id': 7})}\nid: 7\n\n",  # older
    ]

    resumed: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/agent/v1/me":
            return httpx.Response(200, json=me)
        resumed.append(request.headers["Last-Event-ID"])
        body = "".join(frames).encode()
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    console = RemoteConsoleData.open(
        "http://desk.test", "gda_" + "x" * 43, agent="alice", transport=answering(handler)
    )
    try:
        until("the good frame", lambda: console.last_change_id() == 12)
        (event,) = console.changes_after(10, limit=100)
        assert (event.id, event.kind, event.conversation_id, event.profile_id) == (
            12,
            "item.created",
            5,
            3,
        )
        # The stream ended (the server closed it): opened again after the last event.
        until("a second stream", lambda: len(resumed) >= 2)
        assert resumed[:2] == ["10", "12"]
    finally:
        console.close()


def test_search_snippets_get_their_marks_back() -> None:
    marked = marked_snippet("my refund please", [[3, 9]])
    assert marked == f"my {HIT_START}refund{HIT_END} please"
    assert marked_snippet("abc", [[2, 9], [-1, 1], [1, 0]]) == "abc"  # out of range: skipped
