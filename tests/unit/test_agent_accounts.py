"""Agent accounts on the command line: `agents token` (printed once, refused twice without
--rotate, hostile input), `--role`, what `agents list` shows, disabling revoking the token,
and config files carrying the role but never the token."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from core.engine.text import hash_token
from core.identity.agent_tokens import AGENT_TOKEN_PREFIX, agent_for_token
from core.store import Desk
from tests.helpers import cli_ok as ok
from tests.helpers import run_cli as run


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "desk.db"
    ok(path, "init", "--app", "shop", "--store-name", "Shop")
    ok(path, "agents", "add", "alice", "--name", "Alice")
    return path


def accounts(db: Path) -> list[tuple[object, ...]]:
    """Every agent's row, token hash included: what a refused command must leave alone."""
    with Desk.open(db, create=False) as desk:
        return [tuple(row) for row in desk.query("SELECT * FROM agents ORDER BY id")]


def signed_in(db: Path, token: str) -> str | None:
    with Desk.open(db, create=False) as desk:
        account = agent_for_token(desk, token)
    return None if account is None else account.handle


def test_agents_token_prints_it_once_and_stores_only_its_hash(db: Path) -> None:
    result = run(db, "agents", "token", "alice")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and token.startswith(AGENT_TOKEN_PREFIX)
    assert "shown only this once" in result.stderr and token not in result.stderr
    with Desk.open(db, create=False) as desk:
        stored = desk.query_one("SELECT token_hash FROM agents WHERE handle = 'alice'")
        dump = "\n".join(desk.conn.iterdump())
    assert stored is not None and stored[0] == hash_token(token)
    assert token not in dump
    assert signed_in(db, token) == "alice"
    assert json.loads(ok(db, "agents", "list", "--json"))[0]["token"] is True
    assert ok(db, "agents", "list").splitlines()[1].split()[-1] == "set"


def test_a_second_token_needs_rotate_which_revokes_the_first(db: Path) -> None:
    first = ok(db, "agents", "token", "alice").strip()
    before = accounts(db)
    refused = run(db, "agents", "token", "alice")
    assert refused.exit_code == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "--rotate" in refused.stderr
    assert accounts(db) == before
    rotated = run(db, "agents", "token", "alice", "--rotate", "--json")
    assert rotated.exit_code == 0, rotated.output
    second = json.loads(rotated.stdout)
    assert second["handle"] == "alice" and second["token"] != first
    assert "previous token no longer works" in rotated.stderr
    assert signed_in(db, first) is None and signed_in(db, second["token"]) == "alice"


def test_disable_revokes_the_token_and_enable_does_not_bring_it_back(db: Path) -> None:
    token = ok(db, "agents", "token", "alice").strip()
    assert "token, if any, is revoked" in ok(db, "agents", "disable", "alice")
    assert signed_in(db, token) is None
    refused = run(db, "agents", "token", "alice")
    assert refused.exit_code == 1 and "enable them first" in refused.stderr
    said = ok(db, "agents", "enable", "alice")
    assert "stays revoked" in said and "gladdesk agents token alice" in said
    assert signed_in(db, token) is None
    assert json.loads(ok(db, "agents", "list", "--json"))[0]["token"] is False
    fresh = ok(db, "agents", "token", "alice").strip()  # no --rotate needed: none is set
    assert signed_in(db, fresh) == "alice"


HOSTILE = [
    (["agents", "token", "ghost"], 1, "no agent 'ghost'"),
    (["agents", "token", "Alice"], 1, "use lower case"),
    (["agents", "token", "al\x1bice"], 1, "is not a handle"),
    (["agents", "token", "a" * 5000], 1, "is not a handle"),
    (["agents", "token", "--rotate"], 2, "Missing argument"),
    (["agents", "token", "alice", "--rotate=yes"], 2, "does not take a value"),
    (["agents", "token", "alice", "bob"], 2, "unexpected extra argument"),
    (["agents", "add", "bob", "--name", "Bob", "--role", "root"], 2, "'root' is not one of"),
    (["agents", "set", "alice", "--role", "ADMIN"], 2, "'ADMIN' is not one of"),
]


@pytest.mark.parametrize(
    ("args", "code", "message"), HOSTILE, ids=[" ".join(h[0])[:40] for h in HOSTILE]
)
def test_hostile_input_is_refused_and_changes_nothing(
    db: Path, args: list[str], code: int, message: str
) -> None:
    ok(db, "agents", "token", "alice")
    before = accounts(db)
    result = run(db, *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr and result.stdout == ""
    if code == 1:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("gladdesk: error: ")
    assert accounts(db) == before


def test_roles_on_the_command_line_and_in_config_files(db: Path, tmp_path: Path) -> None:
    said = ok(db, "agents", "add", "dana", "--name", "Dana", "--role", "admin")
    assert "admin" in said
    ok(db, "agents", "token", "dana")
    roles = {a["handle"]: a["role"] for a in json.loads(ok(db, "agents", "list", "--json"))}
    assert roles == {"alice": "agent", "dana": "admin"}
    exported = ok(db, "config", "export")
    assert 'role = "admin"' in exported and exported.count("role =") == 1
    assert AGENT_TOKEN_PREFIX not in exported and "token" not in exported
    assert ok(db, "agents", "set", "dana", "--role", "agent") == "agent 'dana': changed role\n"
    # Applying the export brings the role back and leaves the token alone.
    path = tmp_path / "desk.toml"
    path.write_text(exported)
    with Desk.open(db, create=False) as desk:
        hashes = desk.query("SELECT handle, token_hash FROM agents ORDER BY id")
    ok(db, "config", "apply", str(path))
    after = {a["handle"]: a for a in json.loads(ok(db, "agents", "list", "--json"))}
    assert after["dana"]["role"] == "admin" and after["dana"]["token"] is True
    with Desk.open(db, create=False) as desk:
        assert desk.query("SELECT handle, token_hash FROM agents ORDER BY id") == hashes
    path.write_text(exported.replace('role = "admin"', 'role = "owner"'))
    refused = run(db, "config", "apply", str(path))
    assert refused.exit_code == 1 and "role" in refused.stderr and "owner" in refused.stderr


def test_a_desk_from_before_agent_accounts_migrates_with_agents_and_no_tokens(
    demo_db: Path,
) -> None:
    if not isinstance(demo_db, Path):
        pytest.skip("rewinds an SQLite desk file to schema v6")
    with sqlite3.connect(demo_db) as conn:  # the desk as it was at schema v6
        conn.executescript(
            "DROP TABLE rate_buckets; DROP INDEX agents_token_hash;"
            " ALTER TABLE agents DROP COLUMN role;"
            " ALTER TABLE agents DROP COLUMN token_hash;"
            " ALTER TABLE agents DROP COLUMN token_created_at; PRAGMA user_version = 6;"
        )
    conn.close()
    agents = json.loads(ok(demo_db, "agents", "list", "--json"))
    assert agents and {(a["role"], a["token"]) for a in agents} == {("agent", False)}
    token = ok(demo_db, "agents", "token", agents[0]["handle"]).strip()
    assert signed_in(demo_db, token) == agents[0]["handle"]
