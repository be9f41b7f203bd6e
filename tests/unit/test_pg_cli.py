"""The commands on a desk in PostgreSQL: set up, filled, read and refused as with a file,
the URL's password never printed."""

from __future__ import annotations

import json
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
