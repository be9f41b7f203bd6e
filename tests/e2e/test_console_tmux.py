"""`gladdesk console` in a real terminal (tmux): open a conversation and read the glyph column.

Trusted customer lines carry ✔ (in colour), untrusted ones a blank cell. A second console for
another agent on the same file sees a transfer made in the first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.store import Desk

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

ROOT = Path(__file__).resolve().parent.parent.parent
MIXED = 376  # scenario 4 in the demo desk: untrusted first, trusted after logging in
CUSTOMER = "Liam Kowalski"


def wait_until(
    what: str, condition: Callable[[], object], timeout: float = 20, *, shows: object = None
) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            screen = shows.screen() if isinstance(shows, Terminal) else ""
            raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")
        time.sleep(0.1)


class Terminal:
    """One tmux session running one console."""

    def __init__(
        self, name: str, db: Path | str, agent: str, *, command: str | None = None
    ) -> None:
        """The console on `db` as `agent`, or `command` (a shell line) when given."""
        self.name = name
        # COLUMNS/LINES may be inherited (80x24 under pytest) and would override the pane size.
        command = command or (
            f"env -u COLUMNS -u LINES {sys.executable} -m tui --db '{db}' console --agent {agent}"
        )
        # a PostgreSQL desk's keystore is found through the state folder
        state_dir = os.environ.get("GLADDESK_STATE_DIR")
        state = [f"GLADDESK_STATE_DIR={state_dir}"] if state_dir else []
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "32"]
            + ["-e", "TERM=xterm-256color"]
            + [arg for env in state for arg in ("-e", env)]
            + ["-c", str(ROOT), command],
            check=True,
        )

    def screen(self, *, escapes: bool = False) -> str:
        args = ["tmux", "capture-pane", "-p", "-t", self.name] + (["-e"] if escapes else [])
        return subprocess.run(args, capture_output=True, text=True).stdout

    def keys(self, *names: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *names], check=True)

    def type(self, text: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.close()


def messages(db: Path | str) -> list[tuple[str, bool]]:
    with Desk.open(db, create=False) as desk:
        rows = desk.query(
            "SELECT body, trusted FROM items WHERE conversation_id = ? AND sender = 'customer'"
            " ORDER BY id",
            (MIXED,),
        )
    return [(str(r[0]), bool(r[1])) for r in rows]


def test_glyphs_in_a_real_terminal_and_two_consoles(
    demo_db: Path | str, backend: str, terminals: list
) -> None:
    """On either store: a desk file, or a PostgreSQL database (the transfer then reaches the
    second console through LISTEN/NOTIFY)."""
    db = demo_db
    expected = messages(db)
    assert {trusted for _, trusted in expected} == {True, False}
    alice = Terminal(f"gladdesk-console-alice-{backend}-{os.getpid()}", db, "alice")
    terminals.append(alice)
    wait_until("alice's queue", lambda: CUSTOMER in alice.screen())

    alice.keys("/")
    wait_until("the search dialog", lambda: "Search customers" in alice.screen())
    alice.type(CUSTOMER)
    wait_until("a search hit", lambda: f"#{MIXED} open" in alice.screen())
    alice.keys("Enter")
    wait_until(
        "the timeline",
        lambda: "Authenticated with a signed identity token" in alice.screen(),
        shows=alice,
    )

    plain = alice.screen().splitlines()
    coloured = alice.screen(escapes=True).splitlines()
    for body, trusted in expected:
        number = next(n for n, line in enumerate(plain) if body[:30] in line)
        line = plain[number]
        assert line.startswith("✔") == trusted, line
        assert ("✔" in line) == trusted, line
        if trusted:
            # The glyph is drawn with a foreground colour, not as plain text.
            assert re.search(r"\x1b\[[0-9;]*3[0-9;]*m✔", coloured[number]), repr(coloured[number])

    # A second console for bruno on the same file sees alice's transfer.
    bruno = Terminal(f"gladdesk-console-bruno-{backend}-{os.getpid()}", db, "bruno")
    terminals.append(bruno)
    wait_until("bruno's queue", lambda: "View: Mine (bruno)" in bruno.screen())
    assert CUSTOMER not in bruno.screen()
    alice.keys("t")
    wait_until("the transfer dialog", lambda: "Transfer to" in alice.screen())
    alice.keys("Enter")  # the first target is bruno
    wait_until("the transfer in bruno's queue", lambda: CUSTOMER in bruno.screen(), timeout=10)
    wait_until("the transfer event", lambda: "Transferred by alice" in alice.screen())

    alice.keys("C-q")
    bruno.keys("C-q")
    wait_until("both consoles to quit", lambda: "View:" not in alice.screen() + bruno.screen())
