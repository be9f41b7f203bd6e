"""The CLI over hostile --db paths and arguments: one-line errors, exit 1 or 2, files unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from sim.demo_desk import build_demo
from tests.helpers import file_digest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point, as a user types it (`python -m tui` is `gladdesk`)."""
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (os.urandom(4096), "not an SQLite database"),
        (b"", "empty file"),
    ],
    ids=["random-binary", "empty"],
)
def test_bad_database_files_give_one_line_and_stay_unchanged(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(content)
    before = file_digest(path)
    result = run("--db", str(path), "export", "conversations")
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert str(path) in line and problem in line and "Traceback" not in result.stderr
    assert file_digest(path) == before


def test_directory_as_database(tmp_path: Path) -> None:
    result = run("--db", str(tmp_path), "export", "conversations")
    assert result.returncode == 1
    assert "is a directory" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_newer_schema_database(tmp_path: Path) -> None:
    import sqlite3

    path = build_demo(tmp_path / "demo.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = file_digest(path)
    result = run("--db", str(path), "export", "conversations")
    assert result.returncode == 1
    assert "schema version 999 is newer" in result.stderr
    assert file_digest(path) == before


def test_missing_database_is_not_created_by_export(tmp_path: Path) -> None:
    result = run("--db", str(tmp_path / "none.db"), "export", "conversations")
    assert result.returncode == 1 and "no such desk" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["no-such-command"]).exit_code == 2
    assert runner.invoke(main, ["export"]).exit_code in (0, 2)
    assert runner.invoke(main, ["export", "conversations", "--bogus"]).exit_code == 2


def test_export_conversations_shape(tmp_path: Path) -> None:
    path = build_demo(tmp_path / "demo.db")
    result = CliRunner().invoke(
        main,
        ["--db", str(path), "export", "conversations", "--customer", "Julie.Martin@example.org"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data and all(c["customer"]["emails"] == ["julie.martin@example.org"] for c in data)
    for conversation in data:
        assert set(conversation) >= {"id", "status", "inbox", "assignee", "customer", "items"}
        for item in conversation["items"]:
            assert set(item) == {"type", "sender", "event", "body", "at", "trusted", "glyph"}
            assert item["at"].endswith("Z")
            if item["type"] == "message" and item["sender"] == "customer":
                expected = None
                if item["trusted"]:
                    expected = "gray" if conversation["status"] == "CLOSED" else "green"
                assert item["glyph"] == expected
            else:
                assert item["trusted"] is None and item["glyph"] is None


@pytest.mark.parametrize("customer", ["nobody@example.com", "not an email", "+1 555"])
def test_export_unknown_customer_is_an_error(tmp_path: Path, customer: str) -> None:
    path = build_demo(tmp_path / "demo.db")
    result = CliRunner().invoke(
        main, ["--db", str(path), "export", "conversations", "--customer", customer]
    )
    assert result.exit_code == 1
    assert "error:" in result.output
