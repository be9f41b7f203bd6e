"""Full-text search over conversation history (core/store/search.py, schema v6): words and
prefixes, best first, kept in step by triggers, filled for an existing desk, and what an agent
types never read as FTS syntax."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.engine import Engine
from core.store import Desk
from core.store.queue import InvalidQuery
from core.store.search import HIT_END, HIT_START, fts_query, search_messages
from tests.helpers import one_row


@pytest.fixture
def backend() -> str:
    """SQLite only: message search on PostgreSQL (its GIN index is in schema_pg) is not in
    core/store/search.py yet."""
    return "sqlite"


@pytest.fixture
def desk(demo_db: Path) -> Iterator[Desk]:
    opened = Desk.open(demo_db, create=False)
    yield opened
    opened.close()


def test_words_and_a_prefix_find_messages_best_first(desk: Desk) -> None:
    hits = search_messages(desk, "wool coat")
    assert hits and all("wool" in h.snippet.lower() and "coat" in h.snippet.lower() for h in hits)
    assert f"{HIT_START}wool{HIT_END}" in hits[0].snippet.lower()
    assert all(h.item_id is not None and h.sender in ("customer", "agent", "bot") for h in hits)
    typed_so_far = search_messages(desk, "recei")  # the last word is a prefix
    assert typed_so_far and all(f"{HIT_START}recei" in h.snippet.lower() for h in typed_so_far)
    assert any("receipt" in h.snippet.lower() for h in typed_so_far)
    # each hit's item is a message of that conversation
    item = one_row(desk, "SELECT conversation_id, type FROM items WHERE id = ?", (hits[0].item_id,))
    assert tuple(item) == (hits[0].conversation_id, "message")


def test_system_events_are_not_indexed_and_the_connection_keeps_its_settings(
    desk: Desk,
) -> None:
    closed = one_row(
        desk, "SELECT count(*) FROM items WHERE type = 'event' AND body LIKE '%closed%'"
    )
    assert closed[0] > 0  # the demo has "conversation closed" events...
    assert search_messages(desk, "closed", limit=500) == [] or all(
        h.sender != "system" for h in search_messages(desk, "closed", limit=500)
    )
    indexed = one_row(desk, "SELECT count(*) FROM items_fts WHERE items_fts MATCH 'closed'")
    assert indexed[0] < closed[0]  # ...which the index leaves out
    assert one_row(desk, "PRAGMA recursive_triggers")[0] == 0


def test_a_new_message_is_found_at_once(desk: Desk) -> None:
    engine = Engine(desk)
    conversation = 384
    item_id = engine.reply(conversation, "alice", "Your parcel left the zanzibar depot today")
    [hit] = search_messages(desk, "zanzibar depot")
    assert (hit.conversation_id, hit.item_id, hit.sender) == (conversation, item_id, "agent")


def test_an_existing_desk_gets_its_history_indexed(desk: Desk, demo_db: Path) -> None:
    before = [h.item_id for h in search_messages(desk, "refund", limit=50)]
    desk.close()
    with sqlite3.connect(demo_db) as conn:  # the desk as it was before schema v6 (and v7)
        conn.executescript(
            "DROP TABLE rate_buckets; DROP INDEX agents_token_hash;"
            " ALTER TABLE agents DROP COLUMN role;"
            " ALTER TABLE agents DROP COLUMN token_hash;"
            " ALTER TABLE agents DROP COLUMN token_created_at;"
            " DROP TRIGGER items_ai; DROP TRIGGER items_ad; DROP TRIGGER items_au;"
            " DROP TABLE items_fts; ALTER TABLE items DROP COLUMN message_text;"
            " PRAGMA user_version = 5;"
        )
    conn.close()
    with Desk.open(demo_db, create=False) as again:
        assert [h.item_id for h in search_messages(again, "refund", limit=50)] == before
        # the migration ran on this connection and left its settings as they were
        assert one_row(again, "PRAGMA recursive_triggers")[0] == 0
    assert before


@pytest.mark.parametrize(
    "text", ['"', "*", "NEAR(a b)", "-refund", "refund OR coat", "col:x", "^", "a AND", "'"]
)
def test_fts_syntax_is_searched_as_text(desk: Desk, text: str) -> None:
    search_messages(desk, text)  # never raises: no syntax reaches FTS5
    query = fts_query(text)
    assert query is None or all(part.startswith('"') for part in query.split(" "))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=200))
def test_any_text_searches_without_error_or_change(desk: Desk, text: str) -> None:
    before = one_row(desk, "SELECT count(*), max(id) FROM items")
    hits = search_messages(desk, text, limit=5)
    assert len(hits) <= 5
    assert one_row(desk, "SELECT count(*), max(id) FROM items") == before


def test_bad_input_is_refused(desk: Desk) -> None:
    for bad in (None, 7, b"refund"):
        with pytest.raises(InvalidQuery):
            search_messages(desk, bad)
    with pytest.raises(InvalidQuery):
        search_messages(desk, "refund " * 1000)
    with pytest.raises(InvalidQuery):
        search_messages(desk, "refund", limit=0)
