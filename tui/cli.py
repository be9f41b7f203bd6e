"""The full `gladdesk` CLI: the headless commands from `core.cli` plus the terminal ones.

Textual is imported only inside the terminal commands, so `gladdesk verify` stays quick.
"""

from __future__ import annotations

import click

from core.cli import db_path, main

__all__ = ["main"]


@main.command()
@click.option("--agent", "agent", required=True, help="Agent handle, as `export` prints it.")
@click.pass_context
def console(ctx: click.Context, agent: str) -> None:
    """The agent console on a desk."""
    from tui.app import run_console

    run_console(db_path(ctx), agent=agent)
