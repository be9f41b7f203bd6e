"""Engine benchmark (issue 4).

1. Customer messages per second through the engine on a trusted session (trust decision,
   item, events, conversation update, routing lookups) against raw `sqlite3` writes of the
   same rows (item, event, conversation update) with a commit each, in the same run.
   Targets: ratio >= 0.4 and >= 8,000 messages/s.
2. Full session starts per second: init + set_user with a JWT + first message routed.
   Target: >= 2,000/s.
"""

from __future__ import annotations

import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.clock import ManualClock  # noqa: E402
from core.engine import Engine  # noqa: E402
from core.store import Desk  # noqa: E402
from tests.helpers import seed_desk  # noqa: E402

MESSAGES = 20_000
SESSIONS = 3_000
#: Session-start runs per token kind, each in a fresh process; the median is reported.
ROUNDS = 5


def engine_messages(path: Path) -> tuple[float, int]:
    clock = ManualClock()
    desk = Desk.open(path, clock=clock)
    seed_desk(desk, agents=tuple(f"agent{n}" for n in range(20)), capacity=10_000)
    engine = Engine.for_desk(desk)
    start = engine.init_session("shop")
    engine.set_user(start.session_id, jwt=engine.keyring.mint(email="julie@example.com"))
    conversation_id = engine.send_message(start.session_id, "hello").conversation_id
    started = time.perf_counter()
    for n in range(MESSAGES):
        sent = engine.send_message(start.session_id, f"message number {n}")
        assert sent.trusted
    rate = MESSAGES / (time.perf_counter() - started)
    desk.close()
    return rate, conversation_id


def raw_messages(path: Path, conversation_id: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    started = time.perf_counter()
    for n in range(MESSAGES):
        conn.execute("BEGIN")
        cursor = conn.execute(
            "INSERT INTO items (conversation_id, type, sender, body, at, trusted, session_id)"
            " VALUES (?, 'message', 'customer', ?, ?, 1, 'ws_x')",
            (conversation_id, f"message number {n}", n),
        )
        conn.execute(
            "INSERT INTO events (kind, at, conversation_id, item_id, session_id)"
            " VALUES ('item.created', ?, ?, ?, 'ws_x')",
            (n, conversation_id, cursor.lastrowid),
        )
        # the columns a message to a chat already waiting changes (what the engine writes)
        conn.execute(
            "UPDATE conversations SET last_customer_item_id = ?, last_preview = ?,"
            " updated_at = ?, item_count = item_count + 1 WHERE id = ?",
            (cursor.lastrowid, f"message number {n}", n, conversation_id),
        )
        conn.execute("COMMIT")
    rate = MESSAGES / (time.perf_counter() - started)
    conn.close()
    return rate


def session_starts(path: Path, *, site_hs256: bool) -> float:
    """init + set_user(jwt) + first message routed, per second.

    `site_hs256`: tokens signed by the site with a registered HS256 secret (the usual
    site-signed setup); otherwise desk-minted tokens (the desk's ES256 key).
    """
    import jwt

    clock = ManualClock()
    desk = Desk.open(path, clock=clock)
    seed_desk(desk, agents=tuple(f"agent{n}" for n in range(20)), capacity=10_000)
    engine = Engine.for_desk(desk)
    if site_hs256:
        secret = b"bench-site-secret-0123456789abcdef0123456789"
        engine.keyring.add_key(kid="site-1", alg="HS256", secret=secret)
        now = clock.now_ms() // 1000
        tokens = [
            jwt.encode(
                {"email": f"customer{n}@example.com", "iat": now, "exp": now + 600},
                secret,
                algorithm="HS256",
                headers={"kid": "site-1"},
            )
            for n in range(SESSIONS)
        ]
    else:
        tokens = [engine.keyring.mint(email=f"customer{n}@example.com") for n in range(SESSIONS)]
    started = time.perf_counter()
    for token in tokens:
        start = engine.init_session("shop")
        engine.set_user(start.session_id, jwt=token)
        sent = engine.send_message(start.session_id, "Hi, where is my order?")
        assert sent.trusted and sent.assignee is not None
    rate = SESSIONS / (time.perf_counter() - started)
    desk.close()
    return rate


def in_subprocess(name: str, *args: object) -> float:
    """Run one measurement in a fresh interpreter: each starts from the same clean state
    (a long run before it leaves a larger heap and slower garbage collection behind)."""
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r});"
        f" from pathlib import Path; from bench.engine import {name};"
        f" print(repr({name}(*{args!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(eval(done.stdout.strip().splitlines()[-1].split(",")[0].strip("(")))


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        engine_rate, conversation_id = engine_messages(tmp / "engine.db")
        raw_rate = raw_messages(tmp / "engine.db", conversation_id)
        ratio = engine_rate / raw_rate
        print(f"engine, trusted session: {engine_rate:,.0f} customer messages/s")
        print(f"raw sqlite3 (item + event + conversation update, commit each): {raw_rate:,.0f}/s")
        ok = ratio >= 0.4 and engine_rate >= 8000
        print(
            f"ratio engine/raw: {ratio:.2f} (targets: ratio >= 0.4, >= 8,000 msg/s)"
            f" {'OK' if ok else 'MISSED'}"
        )
        for label, site in (("site-signed HS256", True), ("desk-minted ES256", False)):
            rounds = sorted(
                in_subprocess("session_starts_at", str(tmp / f"sessions-{site}-{n}.db"), site)
                for n in range(ROUNDS)
            )
            starts = statistics.median(rounds)
            print(
                f"full session starts, {label} tokens (init + set_user jwt + first message"
                f" routed): median {starts:,.0f}/s of {ROUNDS} runs"
                f" ({rounds[0]:,.0f}-{rounds[-1]:,.0f}) (target >= 2,000/s)"
                f" {'OK' if starts >= 2000 else 'MISSED'}"
            )


def session_starts_at(path: str, site_hs256: bool) -> float:
    return session_starts(Path(path), site_hs256=site_hs256)


if __name__ == "__main__":
    main()
