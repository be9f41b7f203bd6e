"""`gladdesk db copy`: a whole desk between SQLite and PostgreSQL, proven by its exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.store import Desk
from core.store.copy import TABLES, copied_columns, is_empty
from core.store.desk import Desk as SqliteDesk
from tests import pg
from tests.helpers import run_cli


def _export(location: str | Path) -> tuple[object, ...]:
    parts = []
    for args in (("export", "conversations"), ("config", "export"), ("keys", "list")):
        result = run_cli(location, *args)
        assert result.exit_code == 0, result.output
        parts.append(result.stdout)
    return tuple(json.loads(p) if p.lstrip().startswith(("[", "{")) else p for p in parts)


def test_a_desk_goes_to_postgresql_and_back_unchanged(
    built_demo: Path, pg_server: pg.Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLADDESK_STATE_DIR", str(tmp_path / "state"))
    url = pg_server.empty()
    result = run_cli(built_demo, "db", "copy", "--from", str(built_demo), "--to", url)
    assert result.exit_code == 2 and "--db is not used here" in result.output
    from click.testing import CliRunner

    from cli.main import main

    moved = CliRunner().invoke(main, ["db", "copy", "--from", str(built_demo), "--to", url])
    assert moved.exit_code == 0, moved.output
    assert ":***@" in moved.stderr and "gladdesk@" not in moved.stderr.replace(":***@", "")
    back = tmp_path / "back.db"
    returned = CliRunner().invoke(main, ["db", "copy", "--from", url, "--to", str(back)])
    assert returned.exit_code == 0, returned.output
    original = _export(built_demo)
    assert _export(url) == original
    assert _export(back) == original
    with Desk.open(url, create=False) as desk:
        loads = desk.query("SELECT handle, open_conversations FROM agents ORDER BY handle")
        assert any(r[1] > 0 for r in loads)  # counted by the target's trigger, not copied
        with desk.transaction() as conn:  # identities continue after the copied ids
            conn.execute(
                "INSERT INTO inboxes (name) VALUES ('After the copy')",
            )
        newest = desk.query("SELECT id FROM inboxes ORDER BY id DESC LIMIT 2")
        assert newest[0][0] > newest[1][0]
    assert (tmp_path / "back.db.keys").stat().st_mode & 0o777 == 0o600
    pg_server.drop(url)


def test_a_target_that_is_not_new_is_refused_and_untouched(
    built_demo: Path, desk: Desk, tmp_path: Path
) -> None:
    before = desk.query("SELECT count(*) FROM agents")
    target = desk.location
    from click.testing import CliRunner

    from cli.main import main

    result = CliRunner().invoke(main, ["db", "copy", "--from", str(built_demo), "--to", target])
    assert result.exit_code == 1
    assert "not empty" in result.stderr or "already exists" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert desk.query("SELECT count(*) FROM agents") == before


def test_a_failure_midway_leaves_the_target_empty(
    built_demo: Path, desk_location: str | Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.setup.moving import copy_desk

    real = SqliteDesk.insert_many

    def failing(self: Desk, conn: object, table: str, names: list[str], rows: list) -> None:
        if table == "items":
            raise RuntimeError("disk full")
        real(self, conn, table, names, rows)

    monkeypatch.setattr(SqliteDesk, "insert_many", failing)
    if not isinstance(desk_location, Path):
        from core.store.postgres import PgDesk

        monkeypatch.setattr(PgDesk, "insert_many", failing)
        Desk.open(desk_location).close()  # an empty desk: the schema only
    with pytest.raises(RuntimeError, match="disk full"):
        copy_desk(built_demo, desk_location)
    if isinstance(desk_location, Path):
        assert not desk_location.exists()
    else:
        with Desk.open(desk_location, create=False) as target:
            assert is_empty(target)
    assert "events" in TABLES


def test_unreachable_or_bad_urls_say_so_in_one_line_without_the_password(
    built_demo: Path, pg_server: pg.Server
) -> None:
    from click.testing import CliRunner

    from cli.main import main

    bad = [
        "postgresql://gladdesk:s3cret-pw@127.0.0.1:1/nowhere",
        pg.database_url("no_such_database_here").replace("gladdesk:gladdesk", "gladdesk:s3cret-pw"),
    ]
    for url in bad:
        result = CliRunner().invoke(main, ["db", "copy", "--from", str(built_demo), "--to", url])
        assert result.exit_code == 1, result.output
        assert "s3cret-pw" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def _copy(source: str | Path, target: str | Path) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from cli.main import main

    result = CliRunner().invoke(main, ["db", "copy", "--from", str(source), "--to", str(target)])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GLADDESK_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_same_kind_copies_keep_every_export_and_every_agent_load(
    built_demo: Path, pg_server: pg.Server, tmp_path: Path, state: Path
) -> None:
    from core.store.copy import agent_loads

    first, second = pg_server.empty(), pg_server.empty()
    try:
        file_copy = tmp_path / "copy.db"
        for source, target in ((built_demo, file_copy), (built_demo, first), (first, second)):
            code, out, err = _copy(source, target)
            assert code == 0, err
            assert "every table's rows" in err
        original = _export(built_demo)
        with Desk.open(built_demo, create=False) as desk:
            loads = agent_loads(desk)
        assert any(load for _, load in loads)
        for copy in (file_copy, first, second):
            assert _export(copy) == original
            with Desk.open(copy, create=False) as desk:
                assert agent_loads(desk) == loads
        assert (file_copy.with_name("copy.db.rules.toml")).stat().st_mode & 0o777 == 0o600
        Desk.open(tmp_path / "fresh.db").close()
        assert _sqlite_indexes(file_copy) == _sqlite_indexes(tmp_path / "fresh.db")
        _search_index_rebuilt(built_demo, file_copy)
        fresh = pg_server.fresh()  # the foreign keys and indexes set aside for the load are back
        assert _structure(first) == _structure(second) == _structure(fresh)
        pg_server.drop(fresh)
    finally:
        pg_server.drop(first)
        pg_server.drop(second)


def _sqlite_indexes(path: Path) -> list[tuple[str, str, str]]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')"
            " ORDER BY name"
        ).fetchall()
    conn.close()
    assert rows
    return rows


def test_the_digests_see_one_changed_value(built_demo: Path, tmp_path: Path) -> None:
    from core.setup.moving import copy_desk
    from core.store.copy import digests

    copy = tmp_path / "copy.db"
    copy_desk(built_demo, copy)
    with Desk.open(built_demo, create=False) as source, Desk.open(copy, create=False) as target:
        tables = copied_columns(source, target)
        assert digests(source, tables) == digests(target, tables)
        with target.transaction() as conn:
            conn.execute("UPDATE profiles SET name = name || '.' WHERE id = 1")
        before, after = digests(source, tables), digests(target, tables)
    assert [t for t in tables if before[t] != after[t]] == ["profiles"]
    assert before["profiles"][0] == after["profiles"][0]  # same count, another digest


def _search_index_rebuilt(original: Path, copy: Path) -> None:
    """The copy's message search (set aside during the load) finds what the original's
    does, and keeps up with a message written after the copy."""
    from core.engine import Engine
    from core.store.search import search_messages

    with Desk.open(original, create=False) as desk:
        found = [h.item_id for h in search_messages(desk, "order", limit=500)]
    with Desk.open(copy, create=False) as desk:
        assert found and [h.item_id for h in search_messages(desk, "order", limit=500)] == found
        conversation, handle = desk.query(
            "SELECT c.id, a.handle FROM conversations c JOIN agents a ON a.id = c.assignee_id"
            " WHERE c.status = 'OPEN' ORDER BY c.id LIMIT 1"
        )[0]
        Engine(desk).reply(conversation, handle, "the zanzibar depot has it")
        assert [h.conversation_id for h in search_messages(desk, "zanzibar")] == [conversation]


def _structure(url: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    import psycopg

    with psycopg.connect(url) as conn:
        indexes = conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema() ORDER BY 2"
        ).fetchall()
        constraints = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE connamespace = current_schema()::regnamespace ORDER BY 2"
        ).fetchall()
    assert indexes and constraints
    return indexes, constraints


def _rewind_to_v7(db: Path) -> None:
    """The desk as a gladdesk of schema v7 left it (before shared flood budgets)."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.executescript("DROP TABLE rate_buckets; PRAGMA user_version = 7;")
    conn.close()


def test_an_older_source_is_migrated_first_a_newer_one_refused(
    built_demo: Path, pg_server: pg.Server, tmp_path: Path, state: Path
) -> None:
    import shutil
    import sqlite3

    from core.store.schema import SCHEMA_VERSION

    old = tmp_path / "old.db"
    shutil.copy(built_demo, old)
    shutil.copy(f"{built_demo}.keys", f"{old}.keys")
    _rewind_to_v7(old)
    url = pg_server.empty()
    try:
        code, _, err = _copy(old, url)
        assert code == 0, err
        with sqlite3.connect(old) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conn.close()
        assert _export(url) == _export(built_demo)
    finally:
        pg_server.drop(url)
    newer = tmp_path / "newer.db"
    shutil.copy(built_demo, newer)
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    target = pg_server.empty()
    try:
        code, out, err = _copy(newer, target)
        assert code == 1 and "newer than this gladdesk supports" in err
        assert len(err.strip().splitlines()) == 1 and "gladdesk:gladdesk@" not in out + err
        code, _, err = _copy(newer, tmp_path / "never.db")
        assert code == 1 and not (tmp_path / "never.db").exists()
        assert not list(tmp_path.glob("never.db*"))
        assert pg.tables(target) == []
    finally:
        pg_server.drop(target)


def test_a_database_holding_other_tables_is_refused_untouched(
    built_demo: Path, pg_server: pg.Server, state: Path
) -> None:
    import psycopg

    url = pg_server.empty()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE orders (id int)")
        code, out, err = _copy(built_demo, url)
        assert code == 1 and "holds other tables, not a desk" in err, err
        assert len(err.strip().splitlines()) == 1 and "gladdesk:gladdesk@" not in out + err
        assert pg.tables(url) == ["orders"]
        assert not list(state.glob("postgres/*"))
    finally:
        pg_server.drop(url)


def test_a_copy_that_differs_is_never_committed(
    built_demo: Path, desk_location: str | Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.setup.moving as moving
    from core.store.copy import digests

    def lying(desk: Desk, tables: dict[str, list[str]]) -> dict[str, tuple[int, int]]:
        found = digests(desk, tables)
        if desk.location == str(desk_location):  # the target: one row lost on the way
            count, digest = found["items"]
            found["items"] = (count - 1, digest)
        return found

    monkeypatch.setattr(moving, "digests", lying)
    if not isinstance(desk_location, Path):
        Desk.open(desk_location).close()  # an empty desk: the schema only
    from click.testing import CliRunner

    from cli.main import main

    result = CliRunner().invoke(
        main, ["db", "copy", "--from", str(built_demo), "--to", str(desk_location)]
    )
    assert result.exit_code == 1
    assert "the copy differs from" in result.stderr and "table items" in result.stderr
    if isinstance(desk_location, Path):
        assert not list(desk_location.parent.glob(desk_location.name + "*"))
    else:
        with Desk.open(desk_location, create=False) as target:
            assert is_empty(target)
            assert not target.keystore_path.exists()


def test_every_table_of_the_schema_is_copied_but_the_flood_budgets(desk: Desk) -> None:
    """A table a migration adds must be listed in TABLES (or named here), or a copy would
    silently leave it behind. Flood budgets are a few minutes' counts: a new desk starts
    without them."""
    if desk.dialect == "postgresql":
        rows = desk.query(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    else:
        rows = desk.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    names = {r[0] for r in rows}
    internal = {"gladdesk_schema", "sqlite_sequence"} | {
        n
        for n in names
        if n.startswith("items_fts")  # SQLite's FTS5 index of messages
    }
    assert names - internal - {"rate_buckets"} == set(TABLES)
