"""The widget's change-feed read stays on indexes scoped to the session, however large the
feed: a replay from `?after=0` must not walk the whole `events` table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.engine import Engine
from core.store import Desk, widget_sessions
from tests.helpers import one_row

#: A full-table walk in SQLite's plan: `SCAN events` / `SCAN e` / `SCAN f` (the CTE's own
#: `SCAN v` reads the handful of ids already chosen).
FULL_SCAN = re.compile(r"\bSCAN (events|e|f|i)\b(?! USING)")


def _plan(desk: Desk, session_id: str, after: int) -> list[str]:
    if desk.dialect != "sqlite":
        pytest.skip("reads SQLite's query plans")
    with desk.reading() as conn:
        session = widget_sessions.get(conn, session_id)
        assert session is not None
        params = widget_sessions.visible_events_params(session, after, True, 200)
        rows = conn.execute("EXPLAIN QUERY PLAN " + widget_sessions.VISIBLE_EVENTS_SQL, params)
        return [str(row[3]) for row in rows]


def test_a_replay_from_zero_reads_only_the_sessions_events(engine: Engine, desk: Desk) -> None:
    with desk.transaction() as conn:
        conn.executemany(
            "INSERT INTO events (kind, at, session_id, conversation_id) VALUES (?, 1, ?, ?)",
            (("item.created", f"ws_other{n % 500}", n % 700 + 1) for n in range(20_000)),
        )
        conn.execute("ANALYZE")
    start = engine.init_session("shop")
    engine.set_user(start.session_id, name="Pat", email="pat@example.com")
    sent = engine.send_message(start.session_id, "hello")
    engine.reply(sent.conversation_id, "alice", "Hi Pat")
    plan = _plan(desk, start.session_id, 0)
    assert not [line for line in plan if FULL_SCAN.search(line)], plan
    assert any("events_session" in line for line in plan), plan
    assert any("events_conversation" in line for line in plan), plan
    # and the read still returns what the widget should see, none of the noise
    events = engine.widget_events(start.session_id, after=0)
    assert [e.kind for e in events] == ["conversation:started", "message:received"]
    assert one_row(desk, "SELECT count(*) FROM events")[0] > 20_000


def test_the_full_scan_check_can_fail() -> None:
    assert FULL_SCAN.search("SCAN events")
    assert FULL_SCAN.search("SCAN e")
    assert not FULL_SCAN.search("SCAN v")
    assert not FULL_SCAN.search("SEARCH e USING INTEGER PRIMARY KEY (rowid=?)")


def test_a_desk_with_checkpoints_apart_never_checkpoints_in_a_commit(tmp_path: Path) -> None:
    with Desk.open(tmp_path / "desk.db") as desk:
        desk.checkpoint_apart()
        for n in range(3000):  # far past the 1,000 pages that would checkpoint in a commit
            with desk.transaction():
                desk.emit("test.filler", at=n)
        wal = tmp_path / "desk.db-wal"
        grown = wal.stat().st_size
        assert grown > 1000 * 4096
        in_log, copied = desk.checkpoint()
        assert in_log > 1000 and copied == in_log
        with desk.transaction():  # the next writer starts the log over
            desk.emit("test.filler", at=0)
        assert desk.last_event_id() == 3001
        assert wal.stat().st_size == grown  # written over from its start, not grown
