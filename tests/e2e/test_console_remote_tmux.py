"""`gladdesk console --url` in a real terminal (tmux) against a real `gladdesk serve`: the queue
and a conversation with their glyphs over the network; the server stopped under the console
(a banner, the draft kept, a change made meanwhile shown once it is back, the reply sent);
the token replaced (the session ends with a message naming the unsent draft).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.engine import Engine
from core.setup import DeskAdmin
from core.store import Desk
from sim.demo_desk import build_demo
from tests.e2e.server import free_port, start_server
from tests.e2e.test_console_tmux import CUSTOMER, MIXED, Terminal, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

DRAFT = "Your parcel left the warehouse this morning"


@pytest.fixture
def desk(tmp_path: Path) -> Path:
    return build_demo(tmp_path / "demo.db")


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for one in started:
        one.close()


def new_chat_for_alice(db: Path, name: str) -> int:
    """A customer starts a chat (in another process, as the widget would) and it is handed
    to alice."""
    with Desk.open(db, create=False) as desk:
        engine = Engine(desk)
        session = engine.init_session("retale").session_id
        engine.set_user(session, name=name, email="nora.outage@example.com")
        sent = engine.send_message(session, "Are you still there? My order has not arrived.")
        if sent.assignee != "alice":
            engine.transfer(sent.conversation_id, sent.assignee or "dana", to_agent="alice")
        return sent.conversation_id


def test_the_console_over_the_network_through_a_server_restart(
    desk: Path, tmp_path: Path, terminal: list[Terminal]
) -> None:
    with Desk.open(desk, create=False) as opened:
        token = DeskAdmin(opened).issue_token("alice")
    token_file = tmp_path / "alice.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    port = free_port()
    log = tmp_path / "serve.log"
    server = start_server(desk, port, log)
    command = (
        f"env -u COLUMNS -u LINES -u GLADDESK_AGENT_TOKEN {sys.executable} -m tui console"
        f" --url http://127.0.0.1:{port} --agent alice --token-file '{token_file}';"
        " echo console-exit=$?; sleep 120"
    )
    alice = Terminal(f"gladdesk-remote-{os.getpid()}", desk, "alice", command=command)
    terminal.append(alice)
    try:
        wait_until("alice's queue", lambda: "View: Mine (alice)" in alice.screen(), shows=alice)
        assert f"on http://127.0.0.1:{port}" in alice.screen()  # where this console works

        # A conversation over the network, its glyphs as on a local desk.
        search_and_open(alice)
        wait_until(
            "the timeline",
            lambda: "Authenticated with a signed identity token" in alice.screen(),
            shows=alice,
        )
        assert any(line.startswith("✔") for line in alice.screen().splitlines())
        write(alice, DRAFT)
        wait_until("the draft", lambda: DRAFT in alice.screen(), shows=alice)

        # The server goes away: a banner; sending is refused and the draft stays.
        server.terminate()
        server.wait(timeout=30)
        wait_until("the banner", lambda: "Connection lost" in alice.screen(), shows=alice)
        assert "Your drafts are kept" in alice.screen()
        alice.keys("Enter")
        wait_until("the refusal", lambda: "Reply not sent" in alice.screen(), shows=alice)
        assert DRAFT in alice.screen()

        # A customer writes meanwhile (the desk is there; only its server is not).
        chat = new_chat_for_alice(desk, "Nora Outage")
        server = start_server(desk, port, log)
        wait_until("the banner to go", lambda: "Connection lost" not in alice.screen(), shows=alice)
        assert DRAFT in alice.screen()
        alice.keys("Escape", "Escape")  # out of the composer, back to the queue
        wait_until("the chat made while away", lambda: "Nora Outage" in alice.screen(), shows=alice)

        # Back in the conversation the draft is there, and now it goes.
        search_and_open(alice)
        wait_until("the draft again", lambda: DRAFT in alice.screen(), shows=alice)
        write(alice, "")
        alice.keys("Enter")
        wait_until("the reply sent", lambda: sent_by_alice(desk, MIXED, DRAFT), shows=alice)

        # A new token replaces alice's: the session ends and says so.
        alice.type("unsent words")  # the composer keeps the focus after sending
        wait_until("a second draft", lambda: "unsent words" in alice.screen(), shows=alice)
        with Desk.open(desk, create=False) as opened:
            DeskAdmin(opened).issue_token("alice", rotate=True)
        wait_until("the sign-out", lambda: "console-exit=1" in alice.screen(), shows=alice)
        screen = alice.screen()
        assert "signed out" in screen and "revoked or replaced" in screen
        assert f"#{MIXED}: unsent words" in screen
        assert chat > MIXED
    finally:
        server.terminate()
        server.wait(timeout=30)


def search_and_open(terminal: Terminal) -> None:
    """Find the customer with `/` and open their conversation."""
    terminal.keys("/")
    wait_until("the search dialog", lambda: "Search customers" in terminal.screen())
    terminal.type(CUSTOMER)
    wait_until("a search hit", lambda: f"#{MIXED} open" in terminal.screen(), shows=terminal)
    terminal.keys("Enter")


def write(terminal: Terminal, text: str) -> None:
    """Focus the composer (`r`) and type `text` once it has the focus (typed before, its
    letters would be the screen's keys)."""
    terminal.keys("r")
    time.sleep(1.0)
    if text:
        terminal.type(text)


def sent_by_alice(db: Path, conversation_id: int, body: str) -> bool:
    with Desk.open(db, create=False) as desk:
        row = desk.query_one(
            "SELECT count(*) FROM items i JOIN agents a ON a.id = i.agent_id"
            " WHERE i.conversation_id = ? AND a.handle = 'alice' AND i.body = ?",
            (conversation_id, body),
        )
    return bool(row and row[0])
