"""What the `gladdesk` commands share: `DeskGroup` (a `DeskError` becomes one line and exit
code 1), the --db path, opening the desk and the warning about a readable desk file."""

from __future__ import annotations

import shlex
import stat
import sys
from pathlib import Path
from typing import Any

import click

from core.errors import DeskError

DEFAULT_DB = "desk.db"


class DeskGroup(click.Group):
    """Turns a DeskError into a one-line message and exit code 1 (tracebacks are for bugs)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DeskError as exc:
            click.echo(f"gladdesk: error: {exc}", err=True)
            sys.exit(1)


def db_path(ctx: click.Context) -> Path:
    """The --db path: given after the command, else before it, else `$GLADDESK_DB`, else
    `desk.db`."""
    return ctx.find_root().obj  # type: ignore[no-any-return]


def _db_after(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.find_root().obj = value


def accept_db_after(command: click.Command) -> None:
    """Let `command` (and, for a group, each of its commands) take `--db PATH` after its
    name, as `gladdesk serve --db X` for `gladdesk --db X serve`; given in both places, the
    later one wins. `cli.main` applies it to every command it registers."""
    command.params.append(
        click.Option(
            ["--db"],
            type=click.Path(path_type=Path),
            default=None,
            expose_value=False,
            callback=_db_after,
            help="The desk database file (may also come before the command).",
        )
    )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_db_after(sub)


def open_desk(ctx: click.Context, *, create: bool = False) -> Any:
    """Open the --db desk; a missing file is an error unless `create`."""
    from core.store import Desk

    desk = Desk.open(db_path(ctx), create=create)
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
