"""`gladdesk init`, `apps`, `agents` and `inboxes` through the real command line: what each
prints, its `--json`, and hostile values refused with one line and nothing changed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.store import Desk
from tests.helpers import cli_ok as ok
from tests.helpers import run_cli as run

ROOT = Path(__file__).resolve().parents[2]


def listed(db: Path, what: str) -> list[dict]:
    data = json.loads(ok(db, what, "list", "--json"))
    assert isinstance(data, list)
    return data


def state(db: Path) -> tuple[str, int]:
    """The desk's configuration as exported, and its change feed's length."""
    with Desk.open(db, create=False) as desk:
        last = desk.last_event_id()
    return ok(db, "config", "export"), last


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "desk.db"
    ok(path, "init", "--app", "shop", "--store-name", "Shop")
    return path


# -- init -------------------------------------------------------------------------------------


def test_init_makes_a_private_desk_with_an_app_an_inbox_and_a_signing_key(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    out = ok(path, "init")
    for made in (path, Path(f"{path}.keys")):
        assert stat.S_IMODE(made.stat().st_mode) == 0o600, made
    assert "apps: 'site'" in out and "'Chat' (the default)" in out
    kid = json.loads(ok(path, "keys", "list", "--json"))
    assert [(k["source"], k["status"]) for k in kid] == [("desk", "active")]
    assert f"desk signing key: {kid[0]['kid']}" in out
    # the next commands, ready to paste, with this --db
    assert f"gladdesk --db {path} agents add alice" in out
    assert f"gladdesk --db {path} serve" in out
    assert f"gladdesk --db {path} console --agent alice" in out
    assert listed(path, "apps")[0]["app_id"] == "site"
    assert [i["name"] for i in listed(path, "inboxes")] == ["Chat"]
    token = ok(path, "token", "--email", "julie@example.com").strip()
    assert json.loads(ok(path, "verify", token))["ok"] is True


def test_init_refuses_a_desk_already_set_up_and_changes_nothing(db: Path) -> None:
    before = state(db)
    again = run(db, "init", "--app", "other", "--store-name", "Other")
    assert again.exit_code == 1
    assert again.stderr.count("\n") == 1 and "already holds a desk (1 app, 1 inbox)" in again.stderr
    assert state(db) == before
    fine = run(db, "init", "--exist-ok")
    assert fine.exit_code == 0 and "already set up" in fine.stdout
    assert state(db) == before


def test_init_refuses_a_file_that_is_not_a_desk_and_leaves_it(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("my notes\n")
    result = run(other, "init")
    assert result.exit_code == 1 and "not an SQLite database" in result.stderr
    assert other.read_text() == "my notes\n"
    assert not Path(f"{other}.keys").exists()


def test_init_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "desk.toml"
    config.write_text(
        '[[apps]]\napp_id = "web"\nstore_name = "Web Shop"\n\n'
        '[[inboxes]]\nname = "Support"\n\n[[inboxes]]\nname = "Sales"\n\n'
        '[[agents]]\nhandle = "sam"\nname = "Sam Lee"\ninboxes = ["Sales"]\n'
    )
    path = tmp_path / "desk.db"
    out = ok(path, "init", "--from", str(config))
    assert "console --agent sam" in out and "agents add" not in out
    assert [a["app_id"] for a in listed(path, "apps")] == ["web"]
    assert [(i["name"], i["default"]) for i in listed(path, "inboxes")] == [
        ("Support", True),
        ("Sales", False),
    ]


def test_init_with_a_bad_config_file_leaves_no_desk_behind(tmp_path: Path) -> None:
    config = tmp_path / "desk.toml"
    config.write_text('[[agents]]\nhandle = "sam"\nname = "Sam"\ninboxes = ["Nowhere"]\n')
    path = tmp_path / "desk.db"
    result = run(path, "init", "--from", str(config))
    assert result.exit_code == 1
    assert f"{config}:4: agent 'sam': inboxes: no inbox 'Nowhere'" in result.stderr
    assert not path.exists() and not Path(f"{path}.keys").exists()


def test_init_runs_as_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "proc.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--db", str(path), "init"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "next:" in done.stdout and done.stderr == ""
    added = subprocess.run(
        [sys.executable, "-m", "cli", "--db", str(path), "agents", "add", "ann", "--name", ""],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 1
    assert added.stderr == "gladdesk: error: --name: empty; give a name\n"


# -- apps -------------------------------------------------------------------------------------


def test_apps_add_set_and_list(db: Path) -> None:
    out = ok(db, "apps", "add", "blog", "--store-name", "The  Blog", "--onboarding", "phone")
    assert "added app 'blog' (The Blog)" in out
    assert "note: no --origin yet" in out and "note: no --login-url yet" in out
    changed = ok(
        db,
        "apps",
        "set",
        "blog",
        "--login-url",
        "https://blog.example/login",
        "--origin",
        "HTTPS://Blog.Example:443/",
        "--origin",
        "http://localhost:8080",
        "--trust-window",
        "1800",
        "--greeting-new",
        "Hello {first_name}!",
        "--address-sessions-per-min",
        "0",
    )
    assert changed.startswith("app 'blog': changed login_url, trust_window_s, allowed_origins")
    app = next(a for a in listed(db, "apps") if a["app_id"] == "blog")
    assert app["allowed_origins"] == ["https://blog.example", "http://localhost:8080"]
    assert (app["onboarding"], app["trust_window_s"], app["address_sessions_per_min"]) == (
        "phone",
        1800,
        0,
    )
    assert app["greeting_new"] == "Hello {first_name}!"
    # the default first message takes the login link once there is one
    assert "{login_url}" in app["first_message"]
    assert "already so; nothing changed" in ok(db, "apps", "set", "blog", "--trust-window", "1800")
    table = ok(db, "apps", "list")
    assert table.splitlines()[0].split() == [
        "ID",
        "STORE",
        "ONBOARDING",
        "TRUST",
        "ORIGINS",
        "LOGIN",
        "URL",
    ]
    assert "blog  The Blog  phone       30 min" in table
    assert ok(db, "apps", "set", "blog", "--no-origins").startswith("app 'blog': changed allowed")


def test_a_second_app_warns_about_site_keys_bound_to_none(db: Path, tmp_path: Path) -> None:
    secret = tmp_path / "s.secret"
    secret.write_text("a" * 40)
    ok(db, "keys", "add", "--kid", "site-1", "--alg", "HS256", "--secret-file", str(secret))
    out = ok(db, "apps", "add", "two", "--store-name", "Two")
    assert "site keys added without --app (site-1) trusted the desk's only app, 'shop'" in out


# -- agents and inboxes -----------------------------------------------------------------------


def test_agents_and_inboxes(db: Path) -> None:
    assert "added inbox 'Returns'" in ok(db, "inboxes", "add", "Returns")
    ok(db, "agents", "add", "alice", "--name", "Alice Moreau", "--capacity", "3")
    ok(db, "agents", "add", "bob", "--name", "Bob", "--inbox", "Returns", "--inbox", "Returns")
    agents = {a["handle"]: a for a in listed(db, "agents")}
    assert agents["alice"] == {
        "handle": "alice",
        "name": "Alice Moreau",
        "role": "agent",
        "capacity": 3,
        "inboxes": [],
        "disabled": False,
        "available": True,
        "open_conversations": 0,
        "token": False,
    }
    assert agents["bob"]["inboxes"] == ["Returns"]
    inboxes = {i["name"]: i for i in listed(db, "inboxes")}
    assert inboxes["Chat"] == {
        "name": "Chat",
        "default": True,
        "open_conversations": 0,
        "agents": ["alice"],
    }
    assert inboxes["Returns"]["agents"] == ["alice", "bob"]
    assert ok(db, "agents", "set", "bob", "--all-inboxes", "--capacity", "9") == (
        "agent 'bob': changed capacity, inboxes\n"
    )
    assert "disabled agent 'bob'" in ok(db, "agents", "disable", "bob")
    assert "already disabled" in ok(db, "agents", "disable", "bob")
    table = ok(db, "agents", "list").splitlines()
    assert table[0].split() == ["HANDLE", "NAME", "ROLE", "STATUS", "LOAD", "INBOXES", "TOKEN"]
    assert table[2].split() == ["bob", "Bob", "agent", "disabled", "0/9", "(all)", "-"]
    assert [i["agents"] for i in listed(db, "inboxes")] == [["alice"], ["alice"]]
    assert "enabled agent 'bob'" in ok(db, "agents", "enable", "bob")
    assert listed(db, "agents")[1]["available"] is True
    assert ok(db, "inboxes", "default", "Returns") == "default inbox: 'Returns'\n"
    assert [i["default"] for i in listed(db, "inboxes")] == [False, True]
    assert "(the default)" in ok(db, "inboxes", "add", "Billing", "--default")


def test_empty_listings_say_how_to_add(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    Desk.open(path).close()
    assert "gladdesk agents add HANDLE" in ok(path, "agents", "list")
    assert "gladdesk apps add ID" in ok(path, "apps", "list")
    assert "gladdesk inboxes add NAME" in ok(path, "inboxes", "list")
    assert listed(path, "agents") == [] and listed(path, "apps") == []


HOSTILE: list[tuple[list[str], int, str]] = [
    (["apps", "add", "shop", "--store-name", "Again"], 1, "app 'shop' already exists"),
    (["apps", "add", "two", "--store-name", ""], 1, "--store-name: empty"),
    (["apps", "add", "two"], 2, "--store-name NAME is required"),
    (["apps", "add", "a/b", "--store-name", "X"], 1, "ID: 'a/b' is not an app id"),
    (["apps", "add", "x" * 65, "--store-name", "X"], 1, "is not an app id"),
    (["apps", "add", "two", "--store-name", "A\x07B"], 1, "U+0007, a control character"),
    (["apps", "add", "two", "--store-name", "S" * 101], 1, "over the limit of 100"),
    (
        ["apps", "set", "shop", "--login-url", "javascript:alert(1)"],
        1,
        "not an http:// or https://",
    ),
    (["apps", "set", "shop", "--login-url", "https://a b.example/"], 1, "contains spaces"),
    (["apps", "set", "shop", "--login-url", "https://"], 1, "has no host"),
    (["apps", "set", "shop", "--login-url", "https://x.example:99999/"], 1, "not a valid URL"),
    (["apps", "set", "shop", "--login-url", "https://u:p@x.example/"], 1, "user name or password"),
    (["apps", "set", "shop", "--signup-url", "ftp://x.example/"], 1, "--signup-url:"),
    (["apps", "set", "shop", "--login-url", "https://x.example/" + "a" * 2000], 1, "longer than"),
    (["apps", "set", "shop", "--origin", "https://x.example/path"], 1, "is not an origin"),
    (["apps", "set", "shop", "--origin", "null"], 1, "--origin: 'null'"),
    (["apps", "set", "shop", "--origin", "a", "--no-origins"], 2, "not both"),
    (["apps", "set", "shop", "--trust-window", "59"], 1, "--trust-window: 59 is out of range"),
    (["apps", "set", "shop", "--trust-window", "10" * 20], 1, "out of range"),
    (["apps", "set", "shop", "--trust-window", "soon"], 2, "is not a valid integer"),
    (["apps", "set", "shop", "--onboarding", "fax"], 2, "'fax' is not one of"),
    (["apps", "set", "shop", "--first-message", "Hi {firstname}"], 1, "unknown placeholder"),
    (["apps", "set", "shop", "--first-message", "Log in: {login_url}"], 1, "no login_url"),
    (["apps", "set", "shop", "--greeting-new", "  "], 1, "--greeting-new: empty"),
    (["apps", "set", "shop", "--greeting-returning", "a\x1b[31m"], 1, "U+001B"),
    (["apps", "set", "shop", "--app-sessions-per-min", "-1"], 1, "must be 0 (no limit)"),
    (["apps", "set", "shop"], 2, "nothing to change"),
    (["apps", "set", "nope", "--store-name", "X"], 1, "no app 'nope' on this desk (known: shop)"),
    (["agents", "add", "ann", "--name", "Ann", "--inbox", "Nope"], 1, "no inbox 'Nope'"),
    (["agents", "add", "ann", "--name", "Ann", "--capacity", "0"], 1, "--capacity: 0 is out"),
    (["agents", "add", "ann", "--name", "Ann", "--capacity", "1001"], 1, "1 to 1000"),
    (["agents", "add", "ann", "--name", "Ann", "--capacity", "9" * 30], 1, "out of range"),
    (["agents", "add", "Ann", "--name", "Ann"], 1, "HANDLE: 'Ann': use lower case"),
    (["agents", "add", "a n", "--name", "Ann"], 1, "is not a handle"),
    (["agents", "add", "ann", "--name", " \t "], 1, "--name: character 2 is U+0009"),
    (["agents", "add", "ann", "--name", "Ann\u202eX"], 1, "bidi control"),
    (["agents", "add", "ann"], 2, "Missing option '--name'"),
    (["agents", "add", "ann", "--name", "Ann", "--capacity", "x"], 2, "not a valid integer"),
    (["agents", "set", "zed", "--name", "Z"], 1, "no agent 'zed'"),
    (["agents", "set", "zed"], 2, "nothing to change"),
    (["agents", "disable", "zed"], 1, "no agent 'zed'"),
    (["inboxes", "add", "chat"], 1, "inbox 'chat' already exists (as 'Chat')"),
    (["inboxes", "add", ""], 1, "empty"),
    (["inboxes", "add", "I" * 41], 1, "over the limit of 40"),
    (["inboxes", "default", "Nope"], 1, "no inbox 'Nope'"),
]


@pytest.mark.parametrize(
    ("args", "code", "message"), HOSTILE, ids=[" ".join(h[0])[:40] for h in HOSTILE]
)
def test_hostile_values_are_refused_with_one_line_and_change_nothing(
    db: Path, args: list[str], code: int, message: str
) -> None:
    ok(db, "agents", "add", "alice", "--name", "Alice")
    before = state(db)
    result = run(db, *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    if code == 1:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("gladdesk: error: ")
    assert result.stdout == ""
    assert state(db) == before
