"""`--db` is accepted before or after any command (`gladdesk serve --db X` as
`gladdesk --db X serve`), and `$GLADDESK_DB` stands in for both; a bad path is one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.main import COMMANDS, main
from tests.web_helpers import copy_desk


def every_command(
    commands: tuple[click.Command, ...] | list[click.Command],
) -> Iterator[click.Command]:
    for command in commands:
        yield command
        if isinstance(command, click.Group):
            yield from every_command(list(command.commands.values()))


@pytest.mark.parametrize("command", list(every_command(COMMANDS)), ids=lambda c: c.name)
def test_every_command_takes_db_after_its_name(command: click.Command) -> None:
    assert any("--db" in param.opts for param in command.params), command.name


@pytest.fixture
def desk(built_demo: Path, tmp_path: Path) -> Path:
    return copy_desk(built_demo, tmp_path)


def run(*args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), env=env or {"GLADDESK_DB": ""})


def test_db_before_and_after_the_command_read_the_same_desk(desk: Path) -> None:
    before = run("--db", str(desk), "report", "--format", "json")
    after = run("report", "--format", "json", "--db", str(desk))
    assert before.exit_code == after.exit_code == 0, (before.output, after.output)
    assert before.stdout == after.stdout and '"until"' in before.stdout
    in_group = run("keys", "list", "--db", str(desk))
    on_group = run("keys", "--db", str(desk), "list")
    assert in_group.exit_code == on_group.exit_code == 0
    assert "retale-demo-2026" in in_group.stdout and in_group.stdout == on_group.stdout


def test_the_db_after_the_command_wins_over_the_one_before_and_the_environment(
    desk: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "desk.db"
    result = run(
        "--db", str(missing), "keys", "list", "--db", str(desk), env={"GLADDESK_DB": str(missing)}
    )
    assert result.exit_code == 0 and "retale-demo-2026" in result.stdout
    from_env = run("keys", "list", env={"GLADDESK_DB": str(desk)})
    assert from_env.exit_code == 0 and "retale-demo-2026" in from_env.stdout


@pytest.mark.parametrize("kind", ["directory", "not a database", "missing"])
def test_a_bad_db_after_the_command_is_one_line_and_changes_nothing(
    kind: str, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    if kind == "directory":
        target.mkdir()
    elif kind == "not a database":
        target.write_bytes(b"just some text, not SQLite\n" * 10)
    before = target.read_bytes() if target.is_file() else None
    result = run("report", "--db", str(target))
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gladdesk: error: ") and str(target) in lines[0]
    assert "Traceback" not in result.output
    if before is not None:
        assert target.read_bytes() == before
    assert not target.exists() or target.is_dir() or before is not None
