"""The `gladdesk` command: its top-level options and the explicit list of its commands.

Exit codes: 0 success, 1 a rejection or failed check, 2 usage error. Only `console`, `demo`
and `train` import Textual, inside their functions, so every other command runs without it.
"""

from __future__ import annotations

from pathlib import Path

import click

from cli import admin, audit, config, db, export, feed, identity, report, serve, terminal
from cli.common import DEFAULT_DB, DESK, DeskGroup, accept_db_after

__all__ = ["main"]


@click.group(cls=DeskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_path",
    type=DESK,
    default=DEFAULT_DB,
    envvar="GLADDESK_DB",
    show_default=True,
    help="The desk: a database file, or a postgresql:// URL.",
)
@click.pass_context
def main(ctx: click.Context, db_path: Path | str) -> None:
    """gladdesk: a chat support desk for agents who work in the terminal."""
    ctx.obj = db_path


COMMANDS: tuple[click.Command, ...] = (
    # headless
    audit.audit_command,
    config.init,
    admin.apps_group,
    admin.agents_group,
    admin.inboxes_group,
    config.config_group,
    db.db_group,
    export.export_group,
    feed.feed_command,
    identity.keys,
    identity.token,
    identity.verify,
    report.report_command,
    serve.serve,
    serve.api_users_group,
    # in the terminal (Textual)
    terminal.console,
    terminal.demo,
    terminal.train,
)

for command in COMMANDS:
    accept_db_after(command)
    main.add_command(command)
