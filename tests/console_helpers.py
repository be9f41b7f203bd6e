"""Helpers for the console tests: demo desks in tmp_path, a frozen clock, condition waits."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from core.clock import ManualClock, parse_iso
from core.engine import Engine
from core.store import Desk, queue_key
from sim.demo_desk import build_demo

#: The demo desk is built as of this instant (fixtures/desk.toml `[clock] built_at`).
DEMO_NOW = parse_iso("2026-11-20T09:00:00Z")
SIZE = (120, 32)

_built: Path | None = None


def demo_copy(directory: Path, name: str = "desk.db") -> Path:
    """A private copy of the demo desk in `directory` (built once per test session)."""
    global _built
    if _built is None or not _built.exists():
        _built = Path(tempfile.mkdtemp(prefix="gladdesk-console-")) / "demo.db"
        build_demo(_built)
    target = directory / name
    shutil.copyfile(_built, target)
    keys = Path(f"{_built}.keys")
    if keys.exists():
        shutil.copyfile(keys, Path(f"{target}.keys"))
    return target


def frozen_clock() -> ManualClock:
    return ManualClock(DEMO_NOW)


async def wait_until(condition: Callable[[], object], *, timeout: float = 20.0) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds (generous: the
    suite runs four workers on two cores, and a loaded machine slows the app, not the rule)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        await asyncio.sleep(0.01)


#: Names and messages that try to style, move, reorder, hide or imitate the glyph.
INJECTION_CORPUS: list[tuple[str, str]] = [
    ("[green]✔[/] Verified Customer", "[bold green]✔ trusted[/] [link=http://evil]click[/link]"),
    ("\x1b[32m✔\x1b[0m Eve", "\x1b[2J\x1b[H\x1b[31mred alert\x1b[0m and a bell\x07"),
    ("Mallory \x1b]8;;http://evil.example\x07link\x1b]8;;\x07", "osc \x1b]0;title\x07 end"),
    ("Bidi \u202egnp.exe\u202c name", "zero\u200bwidth\u200djoin\ufeffbom and \u2066isolate\u2069"),
    ("C1 \x9b31m Carol", "null \x00 del \x7f back\bspace\r\nnext line"),
    ("Long Line", "x" * 100_000),
    ("Tick ✓ ✅ ☑ Tom", "{first_name} $(rm -rf /) '; DROP TABLE items; --"),
]


def add_injection_conversation(
    desk: Desk,
    *,
    agent: str = "alice",
    name: str,
    body: str,
    trusted: bool,
    at: int,
    more: list[tuple[str, bool]] | None = None,
) -> int:
    """A conversation whose customer name and messages are hostile (raw rows: any bytes).

    `body` is the last customer message; `more` are (body, trusted) messages before it.
    """
    with desk.transaction() as conn:
        profile_id = conn.execute(
            "INSERT INTO profiles (name, created_at) VALUES (?, ?)", (name, at)
        ).lastrowid
        agent_id = conn.execute("SELECT id FROM agents WHERE handle = ?", (agent,)).fetchone()[0]
        conversation_id = conn.execute(
            "INSERT INTO conversations (profile_id, app_id, inbox_id, assignee_id, status,"
            " created_at, updated_at, routed_at, waiting_since, queue_key, identity_state,"
            " identity_source, last_customer_trusted, last_preview, item_count)"
            " VALUES (?, NULL, 1, ?, 'OPEN', ?, ?, ?, ?, ?, 'CLAIMED', 'set_user', ?, ?, ?)",
            (
                profile_id,
                agent_id,
                at,
                at,
                at,
                at,
                queue_key(at, at),
                int(trusted),
                body[:200],
                1 + len(more or []),
            ),
        ).lastrowid
        for earlier, earlier_trusted in more or []:
            conn.execute(
                "INSERT INTO items (conversation_id, type, sender, body, at, trusted)"
                " VALUES (?, 'message', 'customer', ?, ?, ?)",
                (conversation_id, earlier, at, int(earlier_trusted)),
            )
        item_id = conn.execute(
            "INSERT INTO items (conversation_id, type, sender, body, at, trusted)"
            " VALUES (?, 'message', 'customer', ?, ?, ?)",
            (conversation_id, body, at, int(trusted)),
        ).lastrowid
        conn.execute(
            "UPDATE conversations SET last_customer_item_id = ? WHERE id = ?",
            (item_id, conversation_id),
        )
        desk.emit("conversation.created", conversation_id=conversation_id)
    return int(conversation_id or 0)


def customer_writes(engine: object, email: str, body: str) -> int:
    """The customer with this email writes from another device, logged in (a desk-minted
    token), so it joins their open verified conversation; returns the item id."""
    assert isinstance(engine, Engine)
    session = engine.init_session("retale")
    engine.set_user(session.session_id, jwt=engine.keyring.mint(email=email))
    return engine.send_message(session.session_id, body).item_id


# -- every identity state beside every trust state, built with the engine ---------------------

#: (label, badge, mark): the feasible identity × last-message trust states. A customer who never
#: logged in in a chat (anonymous, claimed) has no verified message in it.
TRUST_MATRIX: list[tuple[str, str, str | None]] = [
    ("anonymous", "ANONYMOUS", None),
    ("claimed-form", "CLAIMED · form", None),
    ("claimed-set-user", "CLAIMED · set_user", None),
    ("trusted-green", "TRUSTED · jwt", "green"),
    ("trusted-gray", "TRUSTED · jwt", "gray"),
    ("trusted-unverified", "TRUSTED · jwt", None),
    ("expired-green", "EXPIRED · jwt", "green"),
    ("expired-gray", "EXPIRED · jwt", "gray"),
    ("expired-unverified", "EXPIRED · jwt", None),
    ("cleared-green", "CLEARED · jwt", "green"),
    ("cleared-gray", "CLEARED · jwt", "gray"),
    ("cleared-unverified", "CLEARED · form", None),
]
MATRIX_START = parse_iso("2026-11-20T08:00:00Z")


class _MatrixWidget:
    """The widget's calls for the matrix desk, one customer at a time, a minute apart."""

    def __init__(self, engine: Engine, clock: ManualClock) -> None:
        self.engine = engine
        self.clock = clock
        self.chats: dict[str, int] = {}

    def session(self) -> str:
        self.clock.advance(60)
        return self.engine.init_session("shop").session_id

    def logged_in(self, label: str, body: str) -> str:
        engine, sid = self.engine, self.session()
        name = label.replace("-", " ").title()
        engine.set_user(sid, jwt=engine.keyring.mint(email=f"{label}@example.com", name=name))
        self.chats[label] = engine.send_message(sid, body).conversation_id
        return sid

    def claimed(self, label: str, body: str, *, form: bool) -> str:
        sid = self.session()
        name, email = label.replace("-", " ").title(), f"{label}@example.com"
        if form:
            self.engine.submit_onboarding(sid, name=name, email=email)
        else:
            self.engine.set_user(sid, name=name, email=email)
        self.chats[label] = self.engine.send_message(sid, body).conversation_id
        return sid

    def ended_trust(self) -> None:
        """Verified, then the trust window ended (and the customer wrote again), or logged out."""
        engine, chats = self.engine, self.chats
        self.logged_in("expired-green", "Where is my refund?")
        self.logged_in("expired-gray", "Thanks, that was all.")
        expired_again = self.logged_in("expired-unverified", "I'm logged in.")
        self.clock.advance(3600)
        engine.expire_trust()
        engine.send_message(expired_again, "Still there? I wrote after my session ended.")
        engine.close(chats["expired-gray"], "alice", force=True)
        engine.clear_user(self.logged_in("cleared-green", "Cancel my order 4471 please."))
        engine.clear_user(self.logged_in("cleared-gray", "Got it, bye."))
        engine.close(chats["cleared-gray"], "alice", force=True)
        engine.clear_user(self.claimed("cleared-unverified", "Hello?", form=True))

    def never_or_now_trusted(self) -> None:
        engine, chats = self.engine, self.chats
        self.claimed("claimed-form", "What is my balance?", form=True)
        self.claimed("claimed-set-user", "What is my balance?", form=False)
        later = self.claimed("trusted-unverified", "My parcel is lost", form=False)
        self.clock.advance(60)
        # Logs in after writing: the chat follows, its last message stays unverified.
        engine.set_user(later, jwt=engine.keyring.mint(email="trusted-unverified@example.com"))
        self.logged_in("trusted-green", "Can I change my delivery address?")
        self.logged_in("trusted-gray", "All sorted, thank you.")
        engine.close(chats["trusted-gray"], "alice", force=True)
        with engine.desk.transaction() as conn:
            conn.execute("UPDATE apps SET onboarding_enabled = 0")
        engine.directory.forget()
        chats["anonymous"] = engine.send_message(
            self.session(), "Do you ship to Norway?"
        ).conversation_id


def trust_matrix_desk(directory: Path) -> tuple[Path, int, dict[str, int]]:
    """A small desk with one conversation per TRUST_MATRIX row, written by the engine as the
    widget would; returns the file, the time to freeze the console at, and the chats by label.
    Trust windows are an hour: the expired ones logged in before the clock moved on by one."""
    from tests.helpers import seed_desk

    clock = ManualClock(MATRIX_START)
    path = directory / "matrix.db"
    with Desk.open(path, clock=clock) as desk:
        seed_desk(desk)
        widget = _MatrixWidget(Engine(desk), clock)
        widget.ended_trust()
        widget.never_or_now_trusted()
        clock.advance(120)
        return path, clock.now_ms(), widget.chats
