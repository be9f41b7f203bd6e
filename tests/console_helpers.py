"""Helpers for the console tests: demo desks in tmp_path, a frozen clock, condition waits."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from core.clock import ManualClock, parse_iso
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


async def wait_until(condition: Callable[[], object], *, timeout: float = 5.0) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
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
    from core.engine import Engine

    assert isinstance(engine, Engine)
    session = engine.init_session("retale")
    engine.set_user(session.session_id, jwt=engine.keyring.mint(email=email))
    return engine.send_message(session.session_id, body).item_id
