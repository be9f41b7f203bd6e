"""A second `Desk` on a file this process already has open must not drop the first one's
locks: POSIX locks belong to the process, and closing any descriptor of the file releases
them all. Without them, another process closing its last connection takes the write-ahead
log for unused, folds it into the file and resets it, and the first connection goes on
reading the desk as it was (here: a server's connection no longer saw a revoked token).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core.store import Desk
from sim.demo_desk import build_demo

ROOT = Path(__file__).resolve().parents[2]

OTHER_PROCESS = """
import sys
from core.store import Desk
from core.engine import Engine
path = sys.argv[1]
for _ in range(20):  # a process opening and closing the desk, as a CLI or a poller does
    with Desk.open(path, create=False) as desk:
        desk.query_one("SELECT count(*) FROM items")
with Desk.open(path, create=False) as desk:
    engine = Engine(desk)
    session = engine.init_session("retale").session_id
    engine.set_user(session, name="Nora Later", email="nora.later@example.com")
    engine.send_message(session, "written in another process")
"""


def test_a_second_desk_in_one_process_keeps_the_first_ones_view_current(tmp_path: Path) -> None:
    path = build_demo(tmp_path / "desk.db")
    first = Desk.open(path, create=False)
    first.checkpoint_apart()  # as a server's desk: the log is folded in by its own task
    try:
        before = first.last_event_id()
        first.query_one("SELECT count(*) FROM items")
        second = Desk.open(path, create=False)  # a console's second connection, a server's reader
        second.query_one("SELECT count(*) FROM conversations")
        done = subprocess.run(
            [sys.executable, "-c", OTHER_PROCESS, str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        row = first.query_one(
            "SELECT count(*) FROM items WHERE body = 'written in another process'"
        )
        assert row is not None and row[0] == 1
        assert first.last_event_id() > before
        second.close()
    finally:
        first.close()


def test_opening_and_closing_desks_leaves_no_count_behind(tmp_path: Path) -> None:
    from core.store import desk as store_desk

    path = build_demo(tmp_path / "desk.db")
    desks = [Desk.open(path, create=False) for _ in range(3)]
    key = store_desk._file_key(path)  # noqa: SLF001
    assert key is not None
    assert store_desk._OPEN_FILES[key] == 3  # noqa: SLF001
    for desk in desks:
        desk.close()
    desks[0].close()  # twice: counted once
    assert key not in store_desk._OPEN_FILES  # noqa: SLF001
