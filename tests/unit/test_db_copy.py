"""`gladdesk db copy`: a whole desk between SQLite and PostgreSQL, proven by its exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.store import Desk
from core.store.copy import TABLES, is_empty
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
