"""`gladdesk init` (a new desk) and `gladdesk config export / apply` (a desk's apps, inboxes
and agents as a TOML file; docs/config.md#the-config-file)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from cli.common import db_path, open_desk, warn_if_readable

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("init")
@click.option("--app", "app_id", default="site", show_default=True, help="The first app's id.")
@click.option(
    "--store-name", default="Support", show_default=True, help="The first app's store name."
)
@click.option(
    "--from",
    "config_path",
    type=_FILE,
    default=None,
    help="Take the apps, inboxes and agents from this config file instead.",
)
@click.option(
    "--exist-ok",
    is_flag=True,
    help="A desk already set up at --db is fine: exit 0, change nothing.",
)
@click.pass_context
def init(
    ctx: click.Context, app_id: str, store_name: str, config_path: Path | None, exist_ok: bool
) -> None:
    """Create a desk at --db: an app, the inbox Chat and the desk's signing key (or the apps,
    inboxes and agents of --from FILE), then print the next commands to run."""
    from core.setup import AlreadySetUp, init_desk, read_config

    path = db_path(ctx)
    config = read_config(config_path) if config_path is not None else None
    try:
        made = init_desk(path, app_id=app_id, store_name=store_name, config=config)
    except AlreadySetUp as exc:
        if not exist_ok:
            raise
        click.echo(f"{exc.shown}: already set up ({exc.held}); nothing changed")
        return
    warn_if_readable(ctx)
    inboxes = ", ".join(
        f"{name!r}" + (" (the default)" if name == made.default_inbox else "")
        for name in made.inboxes
    )
    if made.shown == str(path):
        click.echo(f"created the desk {path} (mode 0600, its keystore {path}.keys beside it)")
    else:
        rules = made.keystore.with_name(made.keystore.stem + ".rules.toml")
        click.echo(f"created the desk in {made.shown}")
        click.echo(f"  its keystore (keep a copy with your backups): {made.keystore}, 0600")
        click.echo(f"  its rules, when you write some: {rules}")
    click.echo(f"  apps: {', '.join(repr(a) for a in made.apps) or 'none'}")
    click.echo(f"  inboxes: {inboxes or 'none'}")
    click.echo(f"  agents: {', '.join(repr(a) for a in made.agents) or 'none'}")
    click.echo(f"  desk signing key: {made.signing_kid}")
    _next_steps(made.shown, made.apps, made.agents)


def _next_steps(path: Path | str, apps: tuple[str, ...], agents: tuple[str, ...]) -> None:
    prefix = f"gladdesk --db {shlex.quote(str(path))}"
    if ":***@" in str(path):
        click.echo("(with your database password for ***, or the URL in $GLADDESK_DB)")
    steps = []
    if apps:
        steps.append(
            (
                "describe your site",
                f"{prefix} apps set {shlex.quote(apps[0])} --store-name 'Your Shop'"
                " --login-url https://your.shop/login --origin https://your.shop",
            )
        )
    else:
        steps.append(("add an app", f"{prefix} apps add ID --store-name NAME"))
    agent = agents[0] if agents else "alice"
    if not agents:
        steps.append(("add an agent", f"{prefix} agents add alice --name 'Alice Moreau'"))
    steps.append(("start the server (widget, API)", f"{prefix} serve"))
    steps.append(("open an agent's console", f"{prefix} console --agent {shlex.quote(agent)}"))
    click.echo("next:")
    for number, (what, command) in enumerate(steps, start=1):
        click.echo(f"  {number}. {what}:")
        click.echo(f"     {command}")


@click.group("config")
def config_group() -> None:
    """The desk's apps, inboxes and agents as a TOML file."""


@config_group.command("export")
@click.pass_context
def config_export(ctx: click.Context) -> None:
    """Print the desk's apps, inboxes and agents as a config file (`> desk.toml`)."""
    from core.setup import export_config

    with open_desk(ctx) as desk:
        click.echo(export_config(desk), nl=False)


@config_group.command("apply")
@click.argument("config_path", metavar="FILE", type=_FILE)
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.pass_context
def config_apply(ctx: click.Context, config_path: Path, dry_run: bool) -> None:
    """Make the desk's apps, inboxes and agents what FILE says, all at once or not at all.

    Settings a table leaves out take their defaults; apps, inboxes and agents FILE does not
    list are left as they are (nothing is removed).
    """
    from core.setup import apply_config, read_config

    config = read_config(config_path)
    with open_desk(ctx) as desk:
        plan = apply_config(desk, config, dry_run=dry_run)
    for change in plan.changes:
        click.echo(("would " if dry_run else "") + change.summary)
    for note in plan.notes:
        click.echo(f"note: {note}")
    count = len(plan.changes)
    noun = "change" if count == 1 else "changes"
    if not count:
        click.echo(f"{config_path}: the desk already matches it; nothing changed")
    elif dry_run:
        click.echo(f"{count} {noun} to make; nothing changed (--dry-run)")
    else:
        click.echo(f"{count} {noun} made")
