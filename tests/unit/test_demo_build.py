"""demo.db is built from fixtures/, byte-for-byte reproducibly, and the committed one is current."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from core.engine import Engine
from core.errors import DeskError
from core.store import Desk
from sim.demo_desk import DEMO_DB, FIXTURES, build_demo
from tests.helpers import file_digest, one_row


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    first = build_demo(tmp_path / "one.db")
    second = build_demo(tmp_path / "two.db")
    assert file_digest(first) == file_digest(second)
    assert file_digest(Path(f"{first}.keys")) == file_digest(Path(f"{second}.keys"))


def test_committed_demo_db_equals_a_fresh_build(tmp_path: Path) -> None:
    fresh = build_demo(tmp_path / "demo.db")
    assert file_digest(DEMO_DB) == file_digest(fresh), "run: gladdesk db build-demo"
    assert file_digest(Path(f"{DEMO_DB}.keys")) == file_digest(Path(f"{fresh}.keys"))


def test_demo_desk_has_what_the_demo_needs(tmp_path: Path) -> None:
    with Desk.open(build_demo(tmp_path / "demo.db")) as desk:
        count = lambda sql: one_row(desk, sql)[0]  # noqa: E731
        assert count("SELECT count(*) FROM agents") >= 4
        assert {r[0] for r in desk.query("SELECT name FROM inboxes")} >= {
            "Chat",
            "Returns",
            "Billing",
        }
        assert count("SELECT count(*) FROM profiles") >= 200
        assert count("SELECT count(*) FROM profile_phones") >= 100
        assert count("SELECT count(*) FROM conversations WHERE status = 'CLOSED'") > 100
        assert count("SELECT count(*) FROM conversations WHERE status != 'CLOSED'") > 10
        assert count("SELECT count(*) FROM items WHERE trusted = 1") > 100
        assert count("SELECT count(*) FROM items WHERE trusted = 0") > 100
        app = one_row(desk, "SELECT store_name, first_message, login_url FROM apps")
        assert app[0] == "Retalé" and "{login_url}" in app[1]
        key = one_row(desk, "SELECT kid, demo_only FROM signing_keys WHERE source = 'desk'")
        assert key[1] == 1 and "demo" in key[0]
        engine = Engine(desk)
        token = engine.keyring.mint(email="julie.martin@example.org")
        assert engine.keyring.verify(token).email == "julie.martin@example.org"


def test_build_demo_cli_writes_where_asked(tmp_path: Path) -> None:
    out = tmp_path / "copy.db"
    result = CliRunner().invoke(main, ["db", "build-demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert file_digest(out) == file_digest(DEMO_DB)


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("customers.json", '[{"id": 1,', "customers.json: line 1"),
        ("customers.json", "{}", "expected a JSON array"),
        ("desk.toml", "apps = [", "desk.toml"),
        (
            "customers.json",
            json.dumps([{"id": 1, "name": "X", "emails": ["nope"], "created_at": "2026-01-01"}]),
            "not valid",
        ),
    ],
)
def test_bad_fixtures_fail_clearly_and_leave_the_output_alone(
    tmp_path: Path, file: str, content: str, message: str
) -> None:
    fixtures = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, fixtures)
    (fixtures / file).write_text(content)
    out = tmp_path / "demo.db"
    out.write_bytes(b"previous build")
    with pytest.raises(DeskError, match=message):
        build_demo(out, fixtures)
    assert out.read_bytes() == b"previous build"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.db", "fixtures"]


def test_demo_rules_are_built_beside_the_desk_and_loaded_by_the_engine(tmp_path: Path) -> None:
    built = build_demo(tmp_path / "demo.db")
    rules = Path(f"{built}.rules.toml")
    assert rules.read_bytes() == (FIXTURES / "rules.toml").read_bytes()
    assert Path(f"{DEMO_DB}.rules.toml").read_bytes() == rules.read_bytes()
    with Desk.open(built) as desk:
        assert Engine.for_desk(desk).rules.wants("routing")
        # Built plainly, the engine runs the rules it is given: none.
        assert not Engine(desk).rules.wants("routing")


def test_broken_fixture_rules_fail_the_build(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, fixtures)
    (fixtures / "rules.toml").write_text('[[rules]]\nname = "x"\n[rules.then]\nroute = "Nowhere"\n')
    out = tmp_path / "demo.db"
    with pytest.raises(DeskError, match="rules.toml"):
        build_demo(out, fixtures)
    assert not out.exists()
