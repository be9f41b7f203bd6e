"""Store benchmark (issue 2).

1. Appending a customer message through the store API (one transaction: item row + event
   row) against a raw `sqlite3` insert of the same item row with a commit, in the same run.
   Target: ratio >= 0.5.
2. One 50-row page of a 100k-conversation queue ordered by waiting time, by keyset.
   Target: median <= 2 ms.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.clock import ManualClock  # noqa: E402
from core.store import Desk, queue_key  # noqa: E402

MESSAGES = 20_000
CONVERSATIONS = 100_000
PAGE = 50

QUEUE_PAGE = (
    "SELECT c.id, c.status, c.queue_key, c.waiting_since, c.last_preview,"
    " c.last_customer_trusted, c.identity_state, c.identity_source, p.name, a.handle"
    " FROM conversations c JOIN profiles p ON p.id = c.profile_id"
    " LEFT JOIN agents a ON a.id = c.assignee_id"
    " WHERE c.status != 'CLOSED' AND (c.queue_key, c.id) > (?, ?)"
    " ORDER BY c.queue_key, c.id LIMIT ?"
)


def seed(desk: Desk) -> None:
    with desk.transaction() as conn:
        conn.execute("INSERT INTO inboxes (id, name) VALUES (1, 'Chat')")
        conn.execute("INSERT INTO agents (id, handle, name) VALUES (1, 'alice', 'Alice')")
        conn.execute("INSERT INTO profiles (id, name, created_at) VALUES (1, 'Julie Martin', 0)")
        conn.execute(
            "INSERT INTO conversations (id, profile_id, inbox_id, status, created_at,"
            " updated_at, queue_key) VALUES (1, 1, 1, 'OPEN', 0, 0, 0)"
        )


def bench_append(tmp: Path) -> tuple[float, float]:
    desk = Desk.open(tmp / "store.db", clock=ManualClock())
    seed(desk)
    started = time.perf_counter()
    for n in range(MESSAGES):
        with desk.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO items (conversation_id, type, sender, body, at, trusted)"
                " VALUES (1, 'message', 'customer', ?, ?, 1)",
                (f"message {n}", n),
            )
            desk.emit("item.created", at=n, conversation_id=1, item_id=cursor.lastrowid)
    store_rate = MESSAGES / (time.perf_counter() - started)
    desk.close()

    # Baseline: the same item row, raw sqlite3, same pragmas, one commit each, no event row.
    raw = sqlite3.connect(tmp / "store.db", isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("PRAGMA synchronous = NORMAL")
    started = time.perf_counter()
    for n in range(MESSAGES):
        raw.execute("BEGIN")
        raw.execute(
            "INSERT INTO items (conversation_id, type, sender, body, at, trusted)"
            " VALUES (1, 'message', 'customer', ?, ?, 1)",
            (f"message {n}", n),
        )
        raw.execute("COMMIT")
    raw_rate = MESSAGES / (time.perf_counter() - started)
    raw.close()
    return store_rate, raw_rate


def bench_queue_page(tmp: Path) -> tuple[float, float, int]:
    desk = Desk.open(tmp / "queue.db", clock=ManualClock())
    rng = random.Random(7)
    with desk.transaction() as conn:
        conn.execute("INSERT INTO inboxes (id, name) VALUES (1, 'Chat')")
        conn.executemany(
            "INSERT INTO agents (id, handle, name) VALUES (?, ?, ?)",
            [(n, f"agent{n}", f"Agent {n}") for n in range(1, 21)],
        )
        conn.executemany(
            "INSERT INTO profiles (id, name, created_at) VALUES (?, ?, 0)",
            [(n, f"Customer {n}") for n in range(1, CONVERSATIONS + 1)],
        )
        rows = []
        for n in range(1, CONVERSATIONS + 1):
            status = rng.choice(("OPEN", "WAITING", "CLOSED", "CLOSED"))
            updated = 1_700_000_000_000 + rng.randrange(10**9)
            waiting = updated - rng.randrange(10**7) if status == "OPEN" else None
            rows.append(
                (
                    n,
                    n,
                    1,
                    1 + n % 20,
                    status,
                    updated,
                    updated,
                    waiting,
                    queue_key(waiting, updated),
                )
            )
        conn.executemany(
            "INSERT INTO conversations (id, profile_id, inbox_id, assignee_id, status, created_at,"
            " updated_at, waiting_since, queue_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn = desk.conn
    conn.execute("ANALYZE")
    plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + QUEUE_PAGE, (0, 0, PAGE)))
    assert "conversations_active_queue" in plan and "TEMP B-TREE" not in plan, plan
    timings = []
    cursor_key, cursor_id = -1, -1
    for _ in range(2000):
        started = time.perf_counter()
        page = conn.execute(QUEUE_PAGE, (cursor_key, cursor_id, PAGE)).fetchall()
        timings.append((time.perf_counter() - started) * 1000)
        if len(page) < PAGE:
            cursor_key, cursor_id = -1, -1
        else:
            cursor_key, cursor_id = page[-1][2], page[-1][0]
    active = conn.execute("SELECT count(*) FROM conversations WHERE status != 'CLOSED'").fetchone()[
        0
    ]
    desk.close()
    return statistics.median(timings), sorted(timings)[int(len(timings) * 0.99)], active


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        store_rate, raw_rate = bench_append(tmp)
        ratio = store_rate / raw_rate
        print(
            f"append customer message via store API: {store_rate:,.0f} msg/s (item + event, 1 tx)"
        )
        print(f"raw sqlite3 insert + commit:            {raw_rate:,.0f} msg/s")
        print(f"ratio store/raw: {ratio:.2f} (target >= 0.5) {'OK' if ratio >= 0.5 else 'MISSED'}")
        median, p99, active = bench_queue_page(tmp)
        print(
            f"queue page ({PAGE} rows by waiting time, keyset, {CONVERSATIONS:,} conversations,"
            f" {active:,} active): median {median:.3f} ms, p99 {p99:.3f} ms"
            f" (target median <= 2 ms) {'OK' if median <= 2 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
