"""`gladdesk db ...`: desk database maintenance."""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import DESK, desk_free


@click.group("db")
def db_group() -> None:
    """Desk database maintenance."""


@desk_free("build-demo writes the demo desk where --out says")
@db_group.command("build-demo")
@click.option(
    "--out",
    type=DESK,
    default=None,
    help="Where to write the demo desk: a file (default: the checkout's demo.db; installed"
    " from a wheel, demo.db in the current folder), or an empty PostgreSQL database's URL.",
)
@click.option(
    "--fixtures",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="The fixtures folder (default: the fixtures shipped with gladdesk).",
)
def build_demo_command(out: Path | str | None, fixtures: Path | None) -> None:
    """Rebuild the demo desk from fixtures/, byte-for-byte reproducibly."""
    from sim.demo_desk import DEMO_DB, FIXTURES, build_demo, build_demo_into
    from sim.project_files import IN_CHECKOUT

    if isinstance(out, str):  # a PostgreSQL database
        from core.store.postgres import redact_url

        build_demo_into(out, fixtures or FIXTURES)
        click.echo(redact_url(out))
        return

    # An installed gladdesk never writes into its own package folder.
    default_out = DEMO_DB if IN_CHECKOUT else Path("demo.db")
    path = build_demo(out or default_out, fixtures or FIXTURES)
    click.echo(str(path))


@desk_free("db copy names both desks with --from and --to")
@db_group.command("copy")
@click.option("--from", "source", type=DESK, required=True, help="The desk to copy (file or URL).")
@click.option(
    "--to",
    "target",
    type=DESK,
    required=True,
    help="A new desk: a missing file, or a PostgreSQL database without a desk in it.",
)
def copy_command(source: Path | str, target: Path | str) -> None:
    """Copy a whole desk (database, keystore, rules) into a new one, on either backend.

    Before the copy is committed, both desks are compared: every table's rows, the config,
    the signing keys and every agent's load. Anything that fails leaves the target as it was.
    """
    import time

    from core.setup.moving import copy_desk

    started = time.monotonic()
    copied = copy_desk(source, target)
    total = sum(copied.rows.values())
    seconds = time.monotonic() - started
    click.echo(
        f"copied {copied.source} -> {copied.target}: {total:,} rows in {seconds:.1f} s", err=True
    )
    for name in copied.files:
        click.echo(f"  with {name}", err=True)
    click.echo(
        "checked: every table's rows, the config, the signing keys and the agents' loads"
        " read the same on both desks",
        err=True,
    )
    click.echo(copied.target)
