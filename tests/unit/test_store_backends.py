"""What both stores (SQLite and PostgreSQL) must hold whoever writes to them: rules kept by
the database itself (tried with plain SQL, not through the engine), the change feed in id
order, and search."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.engine import Engine
from core.store import Desk
from core.store.search import HIT_END, HIT_START, search_messages
from tests.helpers import one_row


def claimed(engine: Engine, email: str, name: str = "Pat Doe") -> str:
    start = engine.init_session("shop")
    engine.submit_onboarding(start.session_id, name=name, email=email)
    return start.session_id


def _refused(desk: Desk, sql: str, params: tuple = ()) -> None:
    with pytest.raises(Exception) as raised, desk.transaction() as conn:
        conn.execute(sql, params)
    text = str(raised.value)
    assert "immutable" in text or "cannot be deleted" in text or "append-only" in text, text


def test_timeline_items_and_the_feed_refuse_every_change(engine: Engine, desk: Desk) -> None:
    engine.send_message(claimed(engine, "pat@example.com"), "hello")
    items_before = desk.query("SELECT * FROM items ORDER BY id")
    events_before = desk.query("SELECT * FROM events ORDER BY id")
    customer = one_row(desk, "SELECT id FROM items WHERE sender = 'customer'")[0]
    _refused(desk, "UPDATE items SET trusted = 1 WHERE id = ?", (customer,))
    _refused(desk, "UPDATE items SET body = 'edited'")
    _refused(desk, "DELETE FROM items WHERE id = ?", (customer,))
    _refused(desk, "UPDATE events SET kind = 'x'")
    _refused(desk, "DELETE FROM events")
    if desk.dialect == "postgresql":  # SQLite has no TRUNCATE; its DELETE is refused above
        _refused(desk, "TRUNCATE items CASCADE")
        _refused(desk, "TRUNCATE events")
    assert desk.query("SELECT * FROM items ORDER BY id") == items_before
    assert desk.query("SELECT * FROM events ORDER BY id") == events_before


def test_agent_load_follows_every_write_even_plain_sql(engine: Engine, desk: Desk) -> None:
    for n in range(4):
        engine.send_message(claimed(engine, f"c{n}@example.com"), "hi")

    def loads_match() -> None:
        rows = desk.query(
            "SELECT a.handle, a.open_conversations,"
            " (SELECT count(*) FROM conversations c"
            "  WHERE c.assignee_id = a.id AND c.status != 'CLOSED')"
            " FROM agents a ORDER BY a.id"
        )
        assert [(r[0], r[1]) for r in rows] == [(r[0], r[2]) for r in rows]

    loads_match()
    alice = one_row(desk, "SELECT id FROM agents WHERE handle = 'alice'")[0]
    with desk.transaction() as conn:  # a hand-written reassignment and close
        conn.execute("UPDATE conversations SET assignee_id = ?", (alice,))
        conn.execute(
            "UPDATE conversations SET status = 'CLOSED'"
            " WHERE id = (SELECT min(id) FROM conversations)"
        )
    loads_match()
    assert one_row(desk, "SELECT open_conversations FROM agents WHERE id = ?", (alice,))[0] == 3
    with desk.transaction() as conn:
        conn.execute("UPDATE conversations SET status = 'OPEN'")
        conn.execute("UPDATE conversations SET assignee_id = NULL WHERE id % 2 = 0")
    loads_match()


def test_search_finds_words_and_a_prefix_on_either_store(engine: Engine, desk: Desk) -> None:
    first = engine.send_message(claimed(engine, "pat@example.com"), "My wool coat never arrived")
    engine.send_message(claimed(engine, "sam@example.com"), "Where is my receipt?")
    engine.reply(first.conversation_id, first.assignee or "alice", "Sorry about the coat!")
    hits = search_messages(desk, "wool coat")
    assert [h.conversation_id for h in hits] == [first.conversation_id]
    assert f"{HIT_START}wool{HIT_END}" in hits[0].snippet
    assert hits[0].sender == "customer" and hits[0].customer == "Pat Doe"
    assert {h.snippet.count(HIT_START) > 0 for h in search_messages(desk, "recei")} == {True}
    assert len(search_messages(desk, "coat")) == 2  # the customer's and the agent's
    assert search_messages(desk, "closed") == []  # events are not searched


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=60))
def test_any_text_searches_without_error(desk: Desk, text: str) -> None:
    before = desk.last_event_id()
    search_messages(desk, text)
    assert desk.last_event_id() == before


def test_feed_rows_become_visible_in_id_order_with_concurrent_writers(
    desk: Desk, desk_location: object
) -> None:
    """A tail reading `id > last` never skips a row committed later with a smaller id."""
    writers = [Desk.open(desk_location, create=False) for _ in range(3)]  # type: ignore[arg-type]
    seen: list[int] = []
    done = threading.Event()

    def write(writer: Desk) -> None:
        for _ in range(60):
            with writer.transaction():
                writer.emit("test.ordered")
                writer.emit("test.ordered")

    def tail() -> None:
        last = 0
        while True:
            finished = done.is_set()
            for event in desk.events_after(last, 500):
                seen.append(event.id)
                last = event.id
            if finished:
                return

    reader = threading.Thread(target=tail)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()
    for writer in writers:
        writer.close()
    every = [r[0] for r in desk.query("SELECT id FROM events ORDER BY id")]
    assert len(every) == 360
    assert seen == every  # nothing skipped, nothing twice, in order


def test_both_schemas_have_the_same_tables_and_columns(
    desk: Desk, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """core/store/schema.py and schema_pg.py stay in step, migration for migration."""
    from core.store import schema, schema_pg
    from core.store.copy import columns

    assert len(schema.MIGRATIONS) == len(schema_pg.MIGRATIONS)
    assert [m.__name__ for m in schema.MIGRATIONS] == [m.__name__ for m in schema_pg.MIGRATIONS]
    if desk.dialect == "sqlite":
        pytest.skip("compares the PostgreSQL desk with an SQLite one")
    with Desk.open(tmp_path_factory.mktemp("sqlite") / "desk.db") as lite:
        tables = [
            r[0]
            for r in lite.query(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite%' AND name NOT LIKE 'items_fts%'"
            )
        ]
        assert "rate_buckets" in tables and "events" in tables
        for table in tables:
            assert columns(desk, table) == columns(lite, table), table
