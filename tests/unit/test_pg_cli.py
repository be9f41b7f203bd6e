"""The commands on a desk in PostgreSQL: set up, filled, read and refused as with a file,
the URL's password never printed."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from tests import pg

SECRET = "gladdesk"  # the test server's password: must never be printed


def _run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--db", url, *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def empty_url(
    pg_server: pg.Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("GLADDESK_STATE_DIR", str(tmp_path / "state"))
    url = pg_server.empty()
    yield url
    pg_server.drop(url)


def test_a_desk_set_up_filled_and_read_through_the_commands(empty_url: str) -> None:
    code, out, err = _run(empty_url, "init")
    assert code == 0, err
    assert ":***@" in out and f":{SECRET}@" not in out + err
    base = os.path.join(os.environ["GLADDESK_STATE_DIR"], "postgres", "")
    assert f"its keystore (keep a copy with your backups): {base}" in out
    assert f"its rules, when you write some: {base}" in out and ".rules.toml" in out
    code, _, err = _run(empty_url, "init")
    assert code == 1 and "already holds a desk" in err and f":{SECRET}@" not in err
    assert _run(empty_url, "agents", "add", "alice", "--name", "Alice Martin")[0] == 0
    assert _run(empty_url, "inboxes", "add", "Returns")[0] == 0
    agents = json.loads(_run(empty_url, "agents", "list", "--json")[1])
    assert [a["handle"] for a in agents] == ["alice"]
    for args in (("report",), ("audit",), ("keys", "list"), ("config", "export")):
        code, out, err = _run(empty_url, *args)
        assert code == 0 and out, (args, err)
    assert json.loads(_run(empty_url, "export", "conversations")[1]) == []


def test_the_demo_desk_builds_into_a_database_once(empty_url: str) -> None:
    result = CliRunner().invoke(main, ["db", "build-demo", "--out", empty_url])
    assert result.exit_code == 0, result.output
    assert json.loads(_run(empty_url, "export", "conversations")[1])
    again = CliRunner().invoke(main, ["db", "build-demo", "--out", empty_url])
    assert again.exit_code == 1 and "not an empty desk" in again.stderr
    assert f":{SECRET}@" not in again.output


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://gladdesk:s3cret-pw@127.0.0.1:1/x", "cannot connect"),
        ("postgresql://gladdesk:s3cret-pw@127.0.0.1:5432/no_such_db_here", "cannot connect"),
        ("postgresql://nobody:s3cret-pw@127.0.0.1:5432/postgres", "cannot connect"),
        ("postgresql://gladdesk:s3cret-pw@127.0.0.1:5432/postgres", "cannot connect"),
    ],
)
def test_unreachable_databases_are_one_line_without_the_password(url: str, says: str) -> None:
    code, out, err = _run(url, "agents", "list")
    assert code == 1 and says in err, err
    assert "s3cret-pw" not in out + err
    assert len(err.strip().splitlines()) == 1


def test_a_database_that_holds_no_desk_is_not_opened_as_one(empty_url: str) -> None:
    code, _, err = _run(empty_url, "agents", "list")
    assert code == 1 and "no desk in this database" in err
    code, _, err = _run(empty_url, "init", "--exist-ok")
    assert code == 0, err


def test_the_demo_runs_in_a_database_built_on_first_use(empty_url: str) -> None:
    first = CliRunner().invoke(
        main, ["--db", empty_url, "demo", "--headless", "--duration", "1.5", "--seed", "3"]
    )
    assert first.exit_code == 0, first.output
    assert "demo feed:" in first.stdout and ":***@" in first.stdout
    assert f":{SECRET}@" not in first.output
    built = json.loads(_run(empty_url, "export", "conversations")[1])
    assert len(built) > 300  # the demo desk's conversations, and the feed's
    again = CliRunner().invoke(
        main, ["demo", "--db", empty_url, "--headless", "--duration", "1", "--seed", "4"]
    )
    assert again.exit_code == 0, again.output  # carried on, not built again
    assert len(json.loads(_run(empty_url, "export", "conversations")[1])) >= len(built)
    refused = CliRunner().invoke(main, ["--db", empty_url, "demo", "--reset", "--headless"])
    assert refused.exit_code == 2 and "used as it is" in refused.output


def test_apps_api_users_tokens_and_config_files_on_a_database(
    empty_url: str, tmp_path: Path
) -> None:
    assert _run(empty_url, "init")[0] == 0
    code, _, err = _run(empty_url, "apps", "add", "shop", "--store-name", "Shop")
    assert code == 0, err
    code, _, err = _run(empty_url, "apps", "set", "shop", "--origin", "https://shop.example")
    assert code == 0, err
    apps = json.loads(_run(empty_url, "apps", "list", "--json")[1])
    assert {a["app_id"]: a["allowed_origins"] for a in apps} == {
        "site": [],
        "shop": ["https://shop.example"],
    }
    code, out, err = _run(empty_url, "api-users", "add", "backend@shop.example")
    assert code == 0 and "gdk_" in out, err
    code, token, err = _run(empty_url, "token", "--email", "pat@example.com", "--app", "shop")
    assert code == 0, err
    code, out, _ = _run(empty_url, "verify", token.strip(), "--app", "shop")
    assert code == 0 and json.loads(out)["identity"]["email"] == "pat@example.com"
    code, out, _ = _run(empty_url, "verify", token.strip()[:-4] + "AAAA", "--app", "shop")
    assert code == 1 and json.loads(out)["ok"] is False
    assert "bad_signature" in _run(empty_url, "audit")[1]
    # config export, edited, applied: the database follows the file
    exported = _run(empty_url, "config", "export")[1]
    changed = tmp_path / "desk.toml"
    changed.write_text(exported + '\n[[inboxes]]\nname = "Returns"\n')
    code, _, err = _run(empty_url, "config", "apply", str(changed))
    assert code == 0, err
    inboxes = json.loads(_run(empty_url, "inboxes", "list", "--json")[1])
    assert "Returns" in [i["name"] for i in inboxes]
    code, out, _ = _run(empty_url, "config", "apply", str(changed))
    assert code == 0 and "nothing changed" in out


def _sql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def test_a_database_holding_other_tables_is_never_made_a_desk(empty_url: str) -> None:
    _sql(empty_url, "CREATE TABLE orders (id int PRIMARY KEY)", "INSERT INTO orders VALUES (7)")
    for args in (("init",), ("agents", "list"), ("feed", "--scenario", "standard")):
        code, out, err = _run(empty_url, *args)
        assert code == 1, (args, out, err)
        assert "holds other tables, not a desk" in err and f":{SECRET}@" not in out + err
        assert len(err.strip().splitlines()) == 1, err
    assert pg.tables(empty_url) == ["orders"]  # no desk tables, nothing half made


def test_a_desk_from_a_newer_gladdesk_is_refused_and_left_as_it_is(empty_url: str) -> None:
    from core.store.schema_pg import SCHEMA_VERSION

    assert _run(empty_url, "init")[0] == 0
    _sql(empty_url, f"UPDATE gladdesk_schema SET version = {SCHEMA_VERSION + 1}")
    before = pg.tables(empty_url)
    for args in (("agents", "list"), ("init", "--exist-ok"), ("export", "conversations")):
        code, out, err = _run(empty_url, *args)
        assert code == 1 and "newer than this gladdesk supports" in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and f":{SECRET}@" not in out + err
    assert pg.tables(empty_url) == before


def test_feed_builds_the_demo_desk_into_an_empty_database_then_plays_on_it(
    empty_url: str,
) -> None:
    code, out, err = _run(empty_url, "feed", "--scenario", "standard")
    assert code == 0, err
    assert ":***@" in err and "held no desk: built the demo desk there" in err
    assert f":{SECRET}@" not in out + err and "scripts: standard 1" in out
    code, out, err = _run(empty_url, "feed", "--scenario", "standard")
    assert code == 0 and "built the demo desk" not in err  # the second run plays on it
    handles = [a["handle"] for a in json.loads(_run(empty_url, "agents", "list", "--json")[1])]
    assert "alice" in handles


def test_the_demo_never_plays_into_a_desk_it_did_not_build(
    empty_url: str, pg_server: pg.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = ["demo", "--headless", "--duration", "1"]
    first = CliRunner().invoke(main, ["--db", empty_url, *demo])
    assert first.exit_code == 0, first.output
    assert "built the demo desk in postgresql://gladdesk:***@" in first.stderr
    real = pg_server.fresh()  # a desk of its own, not built from the demo's fixtures
    try:
        assert _run(real, "agents", "add", "alice", "--name", "Alice Martin")[0] == 0
        monkeypatch.setenv("GLADDESK_DB", real)  # as a desk's own shell may have it
        for args in (demo, ["--db", real, *demo]):
            refused = CliRunner().invoke(main, args)
            assert refused.exit_code == 1 and "not the demo's" in refused.stderr, refused.output
            assert f":{SECRET}@" not in refused.output
        assert json.loads(_run(real, "export", "conversations")[1]) == []
    finally:
        pg_server.drop(real)
