"""`gladdesk db ...`: desk database maintenance."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("db")
def db_group() -> None:
    """Desk database maintenance."""


@db_group.command("build-demo")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the demo desk (default: the project's demo.db).",
)
@click.option(
    "--fixtures",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="The fixtures folder (default: the project's fixtures/).",
)
def build_demo_command(out: Path | None, fixtures: Path | None) -> None:
    """Rebuild the demo desk from fixtures/, byte-for-byte reproducibly."""
    from sim.demo_desk import DEMO_DB, FIXTURES, build_demo

    path = build_demo(out or DEMO_DB, fixtures or FIXTURES)
    click.echo(str(path))
