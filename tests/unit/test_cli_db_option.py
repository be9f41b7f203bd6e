"""`--db` is accepted before or after any command (`gladdesk serve --db X` as
`gladdesk --db X serve`), and `$GLADDESK_DB` stands in for both; the one after the command's
name wins. Commands that never open a desk refuse it. A bad path is one line and changes
nothing.

The tests walk `cli.main.COMMANDS`, so a command added there is checked too: if its own
checks need arguments before it opens the desk, give them in `ARGS` below.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from cli.main import COMMANDS, main
from tests.web_helpers import copy_desk

CommandPath = tuple[str, ...]

#: What a command needs, besides its required arguments and options (given as "x", or an
#: empty file for a path), to get as far as opening the desk. SECRET stands for a file holding a long
#: enough HS256 secret.
ARGS: dict[CommandPath, tuple[str, ...]] = {
    ("apps", "add"): ("--store-name", "Shop"),
    ("apps", "set"): ("--store-name", "Shop"),
    ("agents", "set"): ("--name", "Ana"),
    ("feed",): ("--scenario", "most-ideal", "--pace", "fast"),
    ("keys", "add"): ("--kid", "k", "--alg", "HS256", "--secret-file", "SECRET"),
    ("token",): ("--email", "ana@example.com"),
}
#: Commands that never open the --db desk, and a word of what they say instead.
DESK_FREE: dict[CommandPath, str] = {
    ("demo",): "its own copy of demo.db",
    ("train",): "throwaway desk",
    ("db", "build-demo"): "--out",
    ("db", "copy"): "--from and --to",
}


def commands(
    within: tuple[click.Command, ...] | list[click.Command], prefix: CommandPath = ()
) -> Iterator[tuple[CommandPath, click.Command]]:
    """Every command and group under `within`, by its path of names."""
    for command in within:
        assert command.name is not None
        path = (*prefix, command.name)
        yield path, command
        if isinstance(command, click.Group):
            yield from commands(list(command.commands.values()), path)


EVERY = dict(commands(COMMANDS))
LEAVES = [path for path, command in EVERY.items() if not isinstance(command, click.Group)]
GROUPS = [path for path, command in EVERY.items() if isinstance(command, click.Group)]


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env or {"GLADDESK_DB": ""})


def args_for(path: CommandPath, folder: Path) -> list[str]:
    """`path`'s required arguments and its ARGS: enough to reach the desk."""
    secret, empty = folder / "secret", folder / "empty"
    secret.write_bytes(b"s" * 48)
    empty.touch()
    command = EVERY[path]
    extra = [str(secret) if a == "SECRET" else a for a in ARGS.get(path, ())]
    given = set(extra)
    for param in command.params:
        value = str(empty) if isinstance(param.type, click.Path) else "x"
        if param.required and isinstance(param, click.Argument):
            extra.append(value)
        elif param.required and param.opts[0] not in given:
            extra += [param.opts[0], value]
    return extra


def one_error_line(result: Result, *words: str) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("gladdesk: error: "), result.output
    for word in words:
        assert word in lines[0], result.output
    return lines[0]


def test_the_tables_name_real_commands() -> None:
    assert set(ARGS) <= set(LEAVES) and set(DESK_FREE) <= set(LEAVES)


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
@pytest.mark.parametrize("where", ["after", "before"])
def test_every_command_opens_the_db_given_before_or_after_its_name(
    path: CommandPath, where: str, tmp_path: Path
) -> None:
    """A directory is never a desk: the command says so, naming it, wherever --db was."""
    folder = tmp_path / "not-a-desk"
    folder.mkdir()
    args = [*path, *args_for(path, tmp_path)]
    argv = [*args, "--db", str(folder)] if where == "after" else ["--db", str(folder), *args]
    result = run(*argv)
    if path in DESK_FREE:
        assert result.exit_code == 2, result.output
        assert "Error: --db is not used here: " in result.output
        assert DESK_FREE[path] in result.output
        return
    assert result.exit_code == 1, (
        f"gladdesk {' '.join(argv)} did not reach the desk (exit {result.exit_code});"
        f" if it needs more arguments first, add them to ARGS; if it never opens a desk, mark it"
        f" desk_free (cli.common) and add it to DESK_FREE:\n{result.output}"
    )
    one_error_line(result, str(folder), "is a directory")


@pytest.mark.parametrize("path", GROUPS, ids=" ".join)
def test_a_group_takes_db_between_its_name_and_its_commands(
    path: CommandPath, tmp_path: Path
) -> None:
    folder = tmp_path / "not-a-desk"
    folder.mkdir()
    for leaf in (p for p in LEAVES if p[: len(path)] == path):
        result = run(*path, "--db", str(folder), *leaf[len(path) :], *args_for(leaf, tmp_path))
        if leaf in DESK_FREE:
            assert result.exit_code == 2 and "--db is not used here" in result.output
        else:
            assert result.exit_code == 1, result.output
            one_error_line(result, str(folder), "is a directory")


@pytest.mark.parametrize("path", list(EVERY), ids=" ".join)
def test_help_shows_db_where_it_is_used(path: CommandPath) -> None:
    result = run(*path, "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    if path in DESK_FREE:
        assert "--db" not in text
    else:
        assert (
            "--db PATH|URL The desk: a database file or a postgresql:// URL (may also come"
            " before the command's name)" in text
        )


@pytest.fixture
def desk(built_demo: Path, tmp_path: Path) -> Path:
    return copy_desk(built_demo, tmp_path)


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
    on_group = run("--db", str(missing), "keys", "--db", str(desk), "list")
    assert on_group.exit_code == 0 and "retale-demo-2026" in on_group.stdout
    from_env = run("keys", "list", env={"GLADDESK_DB": str(desk)})
    assert from_env.exit_code == 0 and "retale-demo-2026" in from_env.stdout


def test_the_environment_does_not_trouble_the_commands_without_a_desk(
    desk: Path, tmp_path: Path
) -> None:
    """$GLADDESK_DB is set for every command; only a --db on the command line is refused."""
    env = {"GLADDESK_DB": str(desk)}
    built = run("db", "build-demo", "--out", str(tmp_path / "fresh.db"), env=env)
    assert built.exit_code == 0, built.output
    assert (tmp_path / "fresh.db").is_file()
    trainer = run("train", "--order", "no-such-order", env=env)
    assert trainer.exit_code == 1 and "no order 'no-such-order'" in trainer.output


def test_refusing_db_leaves_everything_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "demo.db"
    result = run("--db", str(tmp_path / "mine.db"), "db", "build-demo", "--out", str(out))
    assert result.exit_code == 2 and "--db is not used here" in result.output
    assert list(tmp_path.iterdir()) == []


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make(kind: str, target: Path) -> None:
    if kind == "directory":
        target.mkdir()
    elif kind == "text file":
        target.write_bytes(b"just some text, not SQLite\n" * 10)
    elif kind == "empty file":
        target.touch()
    elif kind == "another program's SQLite":
        conn = sqlite3.connect(target)
        conn.execute("CREATE TABLE recipes (name TEXT)")
        conn.commit()
        conn.close()


HOSTILE_COMMANDS: list[CommandPath] = [
    ("report",),
    ("serve", "--port", "0"),
    ("console", "--agent", "alice"),
    ("keys", "list"),
    ("token", "--email", "ana@example.com"),
    ("config", "export"),
    ("feed", "--scenario", "most-ideal", "--pace", "fast"),
    ("init",),
]


@pytest.mark.parametrize("command", HOSTILE_COMMANDS, ids=" ".join)
@pytest.mark.parametrize(
    "kind", ["directory", "text file", "empty file", "another program's SQLite", "missing"]
)
def test_a_bad_db_is_one_line_and_changes_nothing(
    command: CommandPath, kind: str, tmp_path: Path
) -> None:
    if kind == "missing" and command[0] in ("feed", "init"):
        pytest.skip("feed builds the demo desk, init a new one, on a path that does not exist")
    target = tmp_path / "target.db"
    _make(kind, target)
    before = _digest(target) if target.is_file() else None
    result = run(*command, "--db", str(target))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    one_error_line(result, str(target))
    if before is not None:
        assert _digest(target) == before
    assert [p.name for p in tmp_path.iterdir()] == (["target.db"] if kind != "missing" else [])


def test_a_missing_folder_is_one_line_for_feed(tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "desk.db"
    result = run("feed", "--scenario", "most-ideal", "--db", str(target))
    assert result.exit_code == 1
    one_error_line(result, str(target), "no folder")
    assert list(tmp_path.iterdir()) == []
