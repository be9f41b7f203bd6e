"""`gladdesk demo`: the working copy (the committed demo.db is never written) and headless runs."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import tui.demo
from cli.main import main
from core.errors import DeskError
from sim.demo_desk import build_demo
from tests.helpers import file_digest
from tui.demo import STATE_DIR_ENV, state_dir, working_copy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the committed demo.db (with its keystore)."""
    return build_demo(tmp_path_factory.mktemp("committed") / "demo.db")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv(STATE_DIR_ENV, str(folder))
    monkeypatch.setattr(tui.demo, "DEMO_DB", source)
    return folder


def test_state_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(STATE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "xdg" / "gladdesk"
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "explicit"))
    assert state_dir() == tmp_path / "explicit"


def same_desk(copy: Path, source: Path) -> bool:
    """The same rows, but for the settings (a working copy records its clock there)."""

    def rows(path: Path) -> list[str]:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return [
                line
                for line in conn.iterdump()
                if 'INTO "settings"' not in line and "'settings.changed'" not in line
            ]

    return rows(copy) == rows(source)


def test_working_copy_is_made_kept_and_reset(state: Path, source: Path) -> None:
    digest = file_digest(source)
    copy = working_copy()
    assert copy == state / "demo.db"
    assert same_desk(copy, source)
    assert Path(f"{copy}.keys").read_bytes() == Path(f"{source}.keys").read_bytes()
    rules = Path(f"{source}.rules.toml")
    assert rules.is_file() and Path(f"{copy}.rules.toml").read_bytes() == rules.read_bytes()
    changed = copy.read_bytes() + b"changed"  # a demo session wrote to it
    copy.write_bytes(changed)
    assert working_copy() == copy and copy.read_bytes() == changed  # kept between runs
    working_copy(reset=True)
    assert not copy.read_bytes().endswith(b"changed") and same_desk(copy, source)
    assert file_digest(source) == digest


def test_a_rebuilt_demo_db_replaces_a_stale_copy(state: Path, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = build_demo(tmp_path / "other" / "demo.db")
    copy = working_copy(source=other)
    copy.write_bytes(copy.read_bytes() + b"x")
    (state / "demo.db.source").write_text("0" * 64)  # as if demo.db was rebuilt since
    working_copy(source=other)
    assert same_desk(copy, other)


def test_missing_demo_db_says_how_to_build_it(state: Path, tmp_path: Path) -> None:
    with pytest.raises(DeskError, match="gladdesk db build-demo"):
        working_copy(source=tmp_path / "nope.db")
    assert not (state / "demo.db").exists()


def test_unwritable_state_dir_is_a_clear_error(tmp_path: Path, source: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DeskError, match=STATE_DIR_ENV):
        working_copy(source=source, folder=blocker / "sub")


def test_headless_demo_runs_the_feed_and_leaves_demo_db_alone(state: Path, source: Path) -> None:
    digest = file_digest(source)
    result = CliRunner().invoke(main, ["demo", "--headless", "--duration", "1.5", "--reset"])
    assert result.exit_code == 0, result.output
    assert "demo feed:" in result.stdout
    customers = int(result.stdout.split("customers: ")[1].split()[0])
    assert customers >= 1
    assert file_digest(source) == digest
    assert file_digest(state / "demo.db") != digest


def test_headless_demo_never_imports_textual(tmp_path: Path, source: Path) -> None:
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "import tui.demo\n"
        f"tui.demo.DEMO_DB = Path({str(source)!r})\n"
        "tui.demo.run_demo(agent='alice', reset=True, headless=True, duration=0.5)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'rich'})))\n"
    )
    env = {**os.environ, STATE_DIR_ENV: str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_demo_with_an_unknown_agent_fails_before_starting(state: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--agent", "mallory"])
    assert result.exit_code == 1
    assert "mallory" in result.stderr


def test_demo_time_starts_where_the_fixtures_end_and_resets_with_the_copy(
    state: Path, source: Path
) -> None:
    from core.clock import SystemClock, parse_iso
    from core.store import Desk
    from tui.demo import demo_clock

    built_at = parse_iso("2026-11-20T09:00:00Z")  # fixtures/desk.toml [clock] built_at
    copy = working_copy()
    clock = demo_clock(copy)
    assert abs(clock.now_ms() - built_at) < 5_000  # fixture chats keep their age
    assert SystemClock().now_ms() - clock.now_ms() > 0
    # the offset is kept in the copy, so a resumed demo continues its own time, and every
    # process opening the copy without a clock of its own runs on it
    assert demo_clock(copy).offset_ms == clock.offset_ms
    with Desk.open(copy, create=False) as desk:
        assert abs(desk.clock.now_ms() - clock.now_ms()) < 5_000
        desk.record_clock_offset(clock.offset_ms - 60_000)
    assert abs(demo_clock(copy).now_ms() - (built_at + 60_000)) < 5_000
    working_copy(reset=True)
    with Desk.open(copy, create=False) as desk:  # a fresh copy starts its own time at once
        assert abs(desk.clock.now_ms() - built_at) < 5_000
    assert abs(demo_clock(copy).now_ms() - built_at) < 5_000


def test_an_offset_kept_beside_the_copy_moves_into_it(state: Path) -> None:
    from core.store import Desk
    from tui.demo import demo_clock

    copy = working_copy()
    with contextlib.closing(sqlite3.connect(copy)) as conn, conn:  # a copy from before
        conn.execute("DELETE FROM settings WHERE key = 'clock.offset_ms'")
    Path(f"{copy}.epoch").write_text("123456\n")  # where an older gladdesk kept it
    assert demo_clock(copy).offset_ms == 123456
    assert not Path(f"{copy}.epoch").exists()
    with Desk.open(copy, create=False) as desk:
        assert desk.clock.offset_ms == 123456  # type: ignore[attr-defined]
