"""The desk store: opening, refusing what is not a desk, schema rules, the change feed."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.errors import StoreError
from core.store import Desk
from core.store.schema import SCHEMA_VERSION
from tests.helpers import one_row


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_desk_is_wal_with_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    with Desk.open(tmp_path / "desk.db") as desk:
        assert one_row(desk, "PRAGMA journal_mode")[0] == "wal"
        assert one_row(desk, "PRAGMA foreign_keys")[0] == 1
        assert one_row(desk, "PRAGMA busy_timeout")[0] >= 5000
        assert one_row(desk, "PRAGMA user_version")[0] == SCHEMA_VERSION


def test_reopening_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "desk.db"
    with Desk.open(path) as desk:
        desk.set_setting("greeting", "hello")
    with Desk.open(path) as desk:
        assert desk.setting("greeting") == "hello"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (bytes(range(256)) * 16, "not an SQLite database"),
        (b"SQLite format 2\x00" + b"\x00" * 100, "not an SQLite database"),
        (b"hello, I am a text file\n", "not an SQLite database"),
    ],
)
def test_non_desk_files_are_refused_and_untouched(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "thing.db"
    path.write_bytes(content)
    before = digest(path)
    with pytest.raises(StoreError, match=message) as caught:
        Desk.open(path)
    assert str(path) in str(caught.value)
    assert digest(path) == before
    assert not Path(f"{path}-wal").exists()


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        Desk.open(tmp_path)


def test_missing_parent_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Desk.open(tmp_path / "nowhere" / "desk.db")
    assert not (tmp_path / "nowhere").exists()


def test_missing_file_without_create_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such desk"):
        Desk.open(tmp_path / "desk.db", create=False)
    assert not (tmp_path / "desk.db").exists()


def test_newer_schema_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with Desk.open(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match="newer than this gladdesk supports"):
        Desk.open(path)
    assert digest(path) == before


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match="not a gladdesk desk"):
        Desk.open(path)
    assert digest(path) == before


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    desk = Desk.open(tmp_path / "desk.db", clock=ManualClock())
    with desk.transaction() as conn:
        conn.execute("INSERT INTO inboxes (id, name) VALUES (1, 'Chat')")
        conn.execute("INSERT INTO profiles (id, name, created_at) VALUES (1, 'Julie Martin', 0)")
        conn.execute(
            "INSERT INTO conversations (id, profile_id, inbox_id, status, created_at, updated_at,"
            " queue_key) VALUES (1, 1, 1, 'OPEN', 0, 0, 0)"
        )
        conn.execute(
            "INSERT INTO items (id, conversation_id, type, sender, body, at, trusted)"
            " VALUES (1, 1, 'message', 'customer', 'hi', 0, 0)"
        )
    return desk


def test_trusted_flag_cannot_change_once_written(desk: Desk) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="immutable"), desk.transaction() as conn:
        conn.execute("UPDATE items SET trusted = 1 WHERE id = 1")
    assert one_row(desk, "SELECT trusted FROM items WHERE id = 1")[0] == 0


def test_items_cannot_be_deleted(desk: Desk) -> None:
    with pytest.raises(sqlite3.IntegrityError), desk.transaction() as conn:
        conn.execute("DELETE FROM items WHERE id = 1")
    assert one_row(desk, "SELECT count(*) FROM items")[0] == 1


@pytest.mark.parametrize(
    ("sender", "item_type", "trusted", "event"),
    [
        ("customer", "message", None, None),  # a customer message must carry its flag
        ("agent", "message", 1, None),  # only customer messages carry one
        ("system", "event", 0, "closed"),
        ("system", "event", None, None),  # an event names its kind
        ("customer", "message", 2, None),
    ],
)
def test_item_shape_is_enforced_by_the_schema(
    desk: Desk, sender: str, item_type: str, trusted: int | None, event: str | None
) -> None:
    with pytest.raises(sqlite3.IntegrityError), desk.transaction() as conn:
        conn.execute(
            "INSERT INTO items (conversation_id, type, sender, event, body, at, trusted)"
            " VALUES (1, ?, ?, ?, 'x', 0, ?)",
            (item_type, sender, event, trusted),
        )


def test_items_need_an_existing_conversation(desk: Desk) -> None:
    with pytest.raises(sqlite3.IntegrityError), desk.transaction() as conn:
        conn.execute(
            "INSERT INTO items (conversation_id, type, sender, body, at, trusted)"
            " VALUES (99, 'message', 'customer', 'x', 0, 1)"
        )


def test_events_feed_is_append_only_and_ordered(desk: Desk) -> None:
    start = desk.last_event_id()
    with desk.transaction():
        desk.emit("item.created", conversation_id=1, item_id=1)
        desk.emit("conversation.updated", conversation_id=1)
        marker = desk.emit_marker("session.cleared", session_id="s")
    assert marker > start
    events = desk.events_after(start)
    assert [(e.kind, e.conversation_id) for e in events] == [
        ("item.created", 1),
        ("conversation.updated", 1),
        ("session.cleared", None),
    ]
    assert events[-1].id == marker
    with pytest.raises(sqlite3.IntegrityError), desk.transaction() as conn:
        conn.execute("UPDATE events SET kind = 'x'")
    with pytest.raises(sqlite3.IntegrityError), desk.transaction() as conn:
        conn.execute("DELETE FROM events")
    assert len(desk.events_after(start)) == 3


def test_failed_transaction_changes_nothing(desk: Desk) -> None:
    before = desk.last_event_id()
    with pytest.raises(RuntimeError), desk.transaction() as conn:
        desk.emit("settings.changed")
        conn.execute("INSERT INTO settings (key, value) VALUES ('a', 'b')")
        raise RuntimeError("boom")
    assert desk.last_event_id() == before
    assert desk.setting("a") is None


def test_two_connections_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "desk.db"
    writer, reader = Desk.open(path), Desk.open(path)
    start = reader.last_event_id()
    with writer.transaction():
        writer.emit("settings.changed")
    assert [e.kind for e in reader.events_after(start)] == ["settings.changed"]


def test_data_version_moves_on_another_connections_commit_only(tmp_path: Path) -> None:
    """What lets a tail skip reading `events` while nothing happened."""
    path = tmp_path / "desk.db"
    tail, other = Desk.open(path), Desk.open(path)
    try:
        start = tail.data_version()
        assert tail.data_version() == start  # asking again is no change
        # Another connection's read, an empty transaction and one rolled back: no change.
        assert other.events_after(0) == []
        with other.transaction():
            pass
        with pytest.raises(RuntimeError), other.transaction():
            other.emit("settings.changed")
            raise RuntimeError("rolled back")
        assert tail.data_version() == start
        # The tail's own commit does not move its own number...
        with tail.transaction():
            tail.emit("settings.changed")
        assert tail.data_version() == start
        # ...another connection's commit does, once.
        with other.transaction():
            other.emit("settings.changed")
        moved = tail.data_version()
        assert moved != start
        assert tail.data_version() == moved
        assert [e.kind for e in tail.events_after(0)] == ["settings.changed"] * 2
        other.set_setting("greeting", "hello")
        assert tail.data_version() not in (start, moved)
    finally:
        tail.close()
        other.close()
