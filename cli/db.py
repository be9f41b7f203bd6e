"""`gladdesk db ...`: desk database maintenance."""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import desk_free


@click.group("db")
def db_group() -> None:
    """Desk database maintenance."""


@desk_free("build-demo writes the demo desk where --out says")
@db_group.command("build-demo")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the demo desk (default: the checkout's demo.db; installed from a"
    " wheel, demo.db in the current folder).",
)
@click.option(
    "--fixtures",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="The fixtures folder (default: the fixtures shipped with gladdesk).",
)
def build_demo_command(out: Path | None, fixtures: Path | None) -> None:
    """Rebuild the demo desk from fixtures/, byte-for-byte reproducibly."""
    from sim.demo_desk import DEMO_DB, FIXTURES, build_demo
    from sim.project_files import IN_CHECKOUT

    # An installed gladdesk never writes into its own package folder.
    default_out = DEMO_DB if IN_CHECKOUT else Path("demo.db")
    path = build_demo(out or default_out, fixtures or FIXTURES)
    click.echo(str(path))
