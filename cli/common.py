"""What the `gladdesk` commands share: `DeskGroup` (a `DeskError` becomes one line and exit
code 1), the --db path (before or after a command's name: `accept_db_after`; commands that
have no use for it: `desk_free`), opening the desk and the warning about a readable desk
file."""

from __future__ import annotations

import shlex
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from core.errors import DeskError
from core.store.desk import is_postgres_url

DEFAULT_DB = "desk.db"


class DeskGroup(click.Group):
    """Turns a DeskError into a one-line message and exit code 1 (tracebacks are for bugs)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DeskError as exc:
            click.echo(f"gladdesk: error: {exc}", err=True)
            sys.exit(1)


class DeskLocation(click.ParamType):
    """`--db`: a desk file (a Path) or a PostgreSQL database (its `postgresql://` URL, kept
    as text: a Path would fold its `//`)."""

    name = "PATH|URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Path) or is_postgres_url(value):
            return value
        text = str(value)
        if not text:
            self.fail("empty: name a desk file or a postgresql:// URL", param, ctx)
        return Path(text)


DESK = DeskLocation()


def db_path(ctx: click.Context) -> Path:
    """The --db desk: given after the command, else before it, else `$GLADDESK_DB`, else
    `desk.db`. A Path, or the URL (str) of a PostgreSQL desk (`is_postgres_url`)."""
    return ctx.find_root().obj  # type: ignore[no-any-return]


_DB_GIVEN = "gladdesk.db_given"
_Command = TypeVar("_Command", bound=click.Command)
#: Commands that never open the --db desk, with what to say when one is named anyway.
_DESK_FREE: dict[click.Command, str] = {}


def db_given(ctx: click.Context) -> bool:
    """Whether --db was written on the command line (before or after a command's name), not
    taken from `$GLADDESK_DB` or the default."""
    root = ctx.find_root()
    before = root.get_parameter_source("db_path") == click.core.ParameterSource.COMMANDLINE
    return before or bool(root.meta.get(_DB_GIVEN))


#: Desk-free commands that do take a PostgreSQL database's URL as --db (the demo).
_DATABASES_OK: set[click.Command] = set()


def desk_free(why: str, *, databases: bool = False) -> Callable[[_Command], _Command]:
    """Mark a command that never opens the --db desk (say `why`, and what to use instead):
    naming one on the command line is then a usage error rather than silently unused.
    `$GLADDESK_DB` is not an error: it is meant for every command. `databases`: a
    `postgresql://` URL is welcome (the command runs in that database)."""

    def mark(command: _Command) -> _Command:
        _DESK_FREE[command] = why
        if databases:
            _DATABASES_OK.add(command)
        return command

    return mark


def _db_after(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        root = ctx.find_root()
        root.obj = value
        root.meta[_DB_GIVEN] = True
    why = _DESK_FREE.get(ctx.command)
    if why is not None and db_given(ctx):
        if ctx.command in _DATABASES_OK and is_postgres_url(ctx.find_root().obj):
            return
        raise click.UsageError(f"--db is not used here: {why}", ctx=ctx)


def accept_db_after(command: click.Command) -> None:
    """Let `command` (and, for a group, each of its commands) take `--db PATH` after its
    name, as `gladdesk serve --db X` for `gladdesk --db X serve`; given in both places, the
    one after the command's name wins. A command marked `desk_free` rejects it, wherever it
    is written. `cli.main` applies this to every command in its COMMANDS."""
    if not any("--db" in param.opts for param in command.params):  # not already there
        command.params.append(
            click.Option(
                ["--db"],
                type=DESK,
                default=None,
                expose_value=False,
                callback=_db_after,
                help="The desk: a database file or a postgresql:// URL (may also come before"
                " the command's name).",
                hidden=command in _DESK_FREE,
            )
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_db_after(sub)


def open_desk(ctx: click.Context) -> Any:
    """Open the --db desk. A missing file is an error (a mistyped path never makes a new
    desk: `gladdesk init` does)."""
    from core.store import Desk

    desk = Desk.open(db_path(ctx), create=False)
    warn_if_readable(ctx)
    return desk


def warn_if_readable(ctx: click.Context) -> None:
    """Once per command, one line on stderr when the opened desk file is group- or
    world-readable. Its mode is the owner's call and is left alone; new desks are 0600."""
    root = ctx.find_root()
    if root.meta.get("gladdesk.mode_checked"):
        return
    root.meta["gladdesk.mode_checked"] = True
    path = db_path(ctx)
    if is_postgres_url(path):
        return  # who may read it is the server's to say
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o044:
        click.echo(
            f"gladdesk: warning: {path} holds customer data but is readable by other users"
            f" (mode {mode:04o}); fix: chmod 600 {shlex.quote(str(path))}",
            err=True,
        )
