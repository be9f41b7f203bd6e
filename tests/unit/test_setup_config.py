"""`gladdesk config export / apply`: the demo's directory round trip, idempotence, the dry
run, and bad files answered `file:line: reason` with nothing changed."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from core.errors import DeskError
from core.setup import DeskAdmin, apply_config, config_text, parse_config
from core.setup.model import AgentConfig, AppConfig, DeskConfig
from core.store import Desk
from sim.demo_desk import FIXTURES
from tests.helpers import cli_ok as ok
from tests.helpers import run_cli as run


def blank(tmp_path: Path, name: str = "blank.db") -> Path:
    path = tmp_path / name
    Desk.open(path).close()
    return path


def directory(db: Path) -> DeskConfig:
    with Desk.open(db, create=False) as desk:
        return DeskAdmin(desk).config()


def feed_length(db: Path) -> int:
    with Desk.open(db, create=False) as desk:
        return desk.last_event_id()


def test_export_then_apply_on_a_fresh_desk_reproduces_the_demo(
    built_demo: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "desk.toml"
    exported.write_text(ok(built_demo, "config", "export"))
    fresh = blank(tmp_path)
    out = ok(fresh, "config", "apply", str(exported))
    assert "add app 'retale'" in out and "add agent 'emil' (Emil Novak, capacity 6" in out
    assert out.splitlines()[-1] == "10 changes made"  # 3 inboxes, the default, 1 app, 5 agents
    assert directory(fresh) == directory(built_demo)
    # and the export of the copy is the same file
    assert ok(fresh, "config", "export") == exported.read_text()


def test_the_demo_fixture_is_a_config_file(built_demo: Path) -> None:
    """fixtures/desk.toml describes demo.db's directory (its [clock] and [signing_key] aside)."""
    text = (FIXTURES / "desk.toml").read_text(encoding="utf-8")
    fixture = parse_config(text, extra_sections=("clock", "signing_key")).config
    assert fixture.apps == directory(built_demo).apps
    assert fixture.agents == directory(built_demo).agents
    assert fixture.inboxes == directory(built_demo).inboxes


def test_a_second_apply_changes_nothing_and_says_so(built_demo: Path, tmp_path: Path) -> None:
    exported = tmp_path / "desk.toml"
    exported.write_text(ok(built_demo, "config", "export"))
    fresh = blank(tmp_path)
    ok(fresh, "config", "apply", str(exported))
    length = feed_length(fresh)
    again = ok(fresh, "config", "apply", str(exported))
    assert again == f"{exported}: the desk already matches it; nothing changed\n"
    assert feed_length(fresh) == length


def test_dry_run_prints_the_changes_and_changes_nothing(
    built_demo: Path, demo_db: Path, tmp_path: Path
) -> None:
    config = tmp_path / "desk.toml"
    text = ok(built_demo, "config", "export")
    text = text.replace('name = "Chen Wei"\ncapacity = 8', 'name = "Chen Wei"\ncapacity = 2')
    text += '\n[[inboxes]]\nname = "VIP"\n\n[[agents]]\nhandle = "zoe"\nname = "Zoe"\n'
    text += 'inboxes = ["VIP"]\ndisabled = true\n'
    config.write_text(text)
    before, length = directory(demo_db), feed_length(demo_db)
    out = ok(demo_db, "config", "apply", "--dry-run", str(config))
    assert out.splitlines() == [
        "would add inbox 'VIP'",
        "would change agent 'chen': capacity 8 -> 2",
        "would add agent 'zoe' (Zoe, capacity 5, VIP, disabled)",
        "3 changes to make; nothing changed (--dry-run)",
    ]
    assert (directory(demo_db), feed_length(demo_db)) == (before, length)
    ok(demo_db, "config", "apply", str(config))
    after = directory(demo_db)
    assert after.agents[-1] == AgentConfig("zoe", "Zoe", 5, ("VIP",), disabled=True)
    assert next(a for a in after.agents if a.handle == "chen").capacity == 2


def test_what_a_file_leaves_out_stays_and_is_noted(demo_db: Path, tmp_path: Path) -> None:
    config = tmp_path / "small.toml"
    config.write_text('[[agents]]\nhandle = "alice"\nname = "Alice M."\ncapacity = 8\n')
    out = ok(demo_db, "config", "apply", str(config))
    assert 'change agent \'alice\': name "Alice Moreau" -> "Alice M."' in out
    assert "note: agent 'bruno' is on the desk but not in the file: left as it is" in out
    assert "note: app 'retale' is on the desk but not in the file" in out
    assert len(directory(demo_db).agents) == 5


def test_a_setting_left_out_takes_its_default(demo_db: Path, tmp_path: Path) -> None:
    config = tmp_path / "app.toml"
    config.write_text('[[apps]]\napp_id = "retale"\nstore_name = "Retalé"\n')
    out = ok(demo_db, "config", "apply", str(config))
    assert 'login_url "http://127.0.0.1:8080/demo/login" -> ""' in out
    app = directory(demo_db).apps[0]
    assert app == AppConfig("retale", "Retalé")


def test_hostile_strings_survive_the_round_trip(tmp_path: Path) -> None:
    tricky = 'Quote " back\\slash \u00e9\u4e2d \U0001f600 #not-a-comment\n'
    config = DeskConfig(
        apps=(
            AppConfig.checked(
                {
                    "app_id": "x",
                    "store_name": 'A "quoted" \\ name',
                    "first_message": tricky + "line two\twith a tab",
                    "allowed_origins": ["*"],
                }
            ),
        ),
        inboxes=('Chat "1"',),
        agents=(AgentConfig("ann", "Ann 'O' \\ Neil", inboxes=('Chat "1"',)),),
    )
    text = config_text(config)
    tomllib.loads(text)
    assert parse_config(text).config.apps == config.apps
    path = blank(tmp_path)
    with Desk.open(path, create=False) as desk:
        apply_config(desk, parse_config(text))
    assert directory(path).apps == config.apps and directory(path).agents == config.agents


BAD_FILES: list[tuple[str, int | None, str]] = [
    (
        '[[apps]]\napp_id = "x"\nstore_name = "X"\ntrust_window_s = "an hour"\n',
        4,
        "app 'x': trust_window_s: expected a whole number",
    ),
    (
        '[[apps]]\napp_id = "x"\nstore_name = "X"\n\n[[apps]]\napp_id = "y"\nstore_name = 7\n',
        7,
        "app 'y': store_name: expected text",
    ),
    (
        '[[apps]]\napp_id = "x"\nstore_name = "X"\nlogin_url = "javascript:alert(1)"\n',
        4,
        "login_url: 'javascript:alert(1)' is not an http",
    ),
    (
        '[[apps]]\napp_id = "x"\nstore_name = "X"\nallowed_origins = "https://x.example"\n',
        4,
        "expected a list of origins",
    ),
    (
        '[[apps]]\napp_id = "x"\nstore_name = "X"\nstorename = "Y"\n',
        4,
        "app 'x': storename: unknown setting",
    ),
    ('[[apps]]\napp_id = "x"\n', 1, "app 'x': store_name: required"),
    (
        '[[apps]]\napp_id = "x"\nstore_name = "X"\n[[apps]]\napp_id = "x"\nstore_name = "X"\n',
        4,
        "app 'x' is listed twice (also at line 1)",
    ),
    (
        '[[agents]]\nhandle = "ann"\nname = "Ann"\ncapacity = 0\n',
        4,
        "agent 'ann': capacity: 0 is out of range",
    ),
    ('[[agents]]\nhandle = "ann"\nname = "Ann"\ncapacity = 2.5\n', 4, "expected a whole number"),
    (
        '[[agents]]\nhandle = "ann"\nname = "Ann"\ndisabled = "yes"\n',
        4,
        "disabled: expected true or false",
    ),
    ('[[agents]]\nhandle = "ann"\nname = "Ann"\ninboxes = "Chat"\n', 4, "inboxes: expected a list"),
    (
        '[[agents]]\nhandle = "ann"\nname = "Ann"\ninboxes = ["Nope"]\n',
        4,
        "agent 'ann': inboxes: no inbox 'Nope'",
    ),
    (
        '[[inboxes]]\nname = "Chat"\n\n[[inboxes]]\nname = "chat"\n',
        4,
        "inbox 'chat' is listed twice (also at line 1)",
    ),
    ('[[inboxes]]\nname = "Chat"\ncolour = "red"\n', 3, "inbox 'Chat': colour: unknown setting"),
    ('[[inboxes]]\nname = "New"\n\n[[inboxes]]\nname = "returns"\n', 5, "the desk has 'Returns'"),
    ('[desk]\ndefault_inbox = "Nowhere"\n', 2, "default_inbox: no inbox 'Nowhere'"),
    ('[desk]\nname = "x"\n', 2, "desk: name: unknown setting"),
    ("apps = 3\n", 1, "apps: expected [[apps]] tables"),
    ('\n[[queues]]\nname = "x"\n', 2, "unknown section 'queues'; the sections are"),
    ('[[inboxes]]\nname = "A"\n[clock]\nbuilt_at = "2026-01-01T00:00:00Z"\n', 3, "demo's fixtures"),
    ('[[apps]]\napp_id = "x"\nstore_name = "X\n', 3, "not valid TOML"),
    ("[[apps]\n", 1, "not valid TOML"),
]


@pytest.mark.parametrize(("text", "line", "reason"), BAD_FILES, ids=[r for _, _, r in BAD_FILES])
def test_a_bad_file_answers_file_line_reason_and_changes_nothing(
    demo_db: Path, tmp_path: Path, text: str, line: int | None, reason: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    before, length = directory(demo_db), feed_length(demo_db)
    for args in (["config", "apply", str(config)], ["config", "apply", "--dry-run", str(config)]):
        result = run(demo_db, *args)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(f"gladdesk: error: {config}:{line}: "), result.stderr
        assert reason in result.stderr and result.stderr.count("\n") == 1
    assert (directory(demo_db), feed_length(demo_db)) == (before, length)


def test_a_file_that_is_not_text_or_too_large(demo_db: Path, tmp_path: Path) -> None:
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b'[[inboxes]]\nname = "\xff"\n')
    result = run(demo_db, "config", "apply", str(binary))
    assert result.exit_code == 1 and f"{binary}:2: not UTF-8 text" in result.stderr
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * (1 << 20) + "\n")
    result = run(demo_db, "config", "apply", str(huge))
    assert result.exit_code == 1 and "over the limit" in result.stderr
    missing = run(demo_db, "config", "apply", str(tmp_path / "none.toml"))
    assert missing.exit_code == 1 and "no such config file" in missing.stderr


def test_applying_is_all_or_nothing(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change that fails half-way through a file undoes the ones made before it."""
    config = tmp_path / "desk.toml"
    config.write_text('[[inboxes]]\nname = "New"\n\n[[agents]]\nhandle = "zoe"\nname = "Zoe"\n')

    def broken(admin: DeskAdmin, settings: object) -> None:
        raise DeskError("the disk is full")

    monkeypatch.setattr(DeskAdmin, "add_agent", broken)
    before, length = directory(demo_db), feed_length(demo_db)
    result = run(demo_db, "config", "apply", str(config))
    assert (result.exit_code, result.stderr) == (1, "gladdesk: error: the disk is full\n")
    assert (directory(demo_db), feed_length(demo_db)) == (before, length)
