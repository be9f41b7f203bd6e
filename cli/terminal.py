"""The terminal commands: `gladdesk console`, `demo` and `train`.

Textual is imported only inside them, so every other command runs without it.
"""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import db_path


@click.command()
@click.option("--agent", "agent", required=True, help="Agent handle, as `export` prints it.")
@click.option(
    "--keys",
    "keys_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Key bindings file (default: $XDG_CONFIG_HOME/gladdesk/keys.toml).",
)
@click.option(
    "--view",
    default="mine",
    show_default=True,
    help="Queue shown first: mine, unassigned, all, or an inbox name.",
)
@click.pass_context
def console(ctx: click.Context, agent: str, keys_path: Path | None, view: str) -> None:
    """The agent console on a desk."""
    from tui.app import run_console

    run_console(db_path(ctx), agent=agent, config_path=keys_path, queue_view=view)


@click.command()
@click.option("--agent", default="alice", show_default=True, help="Agent handle to work as.")
@click.option("--reset", is_flag=True, help="Start from a fresh copy of demo.db.")
@click.option("--headless", is_flag=True, help="Run the feed without a terminal; print a summary.")
@click.option("--duration", type=click.FloatRange(min=0.1), default=None, help="Seconds to run.")
@click.option("--seed", type=int, default=None, help="Seed for the simulated customers.")
@click.pass_context
def demo(
    ctx: click.Context,
    agent: str,
    reset: bool,
    headless: bool,
    duration: float | None,
    seed: int | None,
) -> None:
    """The agent console on a working copy of demo.db with the simulated customer feed.

    The committed demo.db is never modified; the copy lives in $GLADDESK_STATE_DIR
    (default ~/.local/state/gladdesk/).
    """
    from tui.demo import run_demo

    run_demo(agent=agent, reset=reset, headless=headless, duration=duration, seed=seed)


@click.command()
@click.option("--order", default=None, help="Start at this authentication order (e.g. standard).")
@click.pass_context
def train(ctx: click.Context, order: str | None) -> None:
    """Trainer mode: step through the five authentication orders."""
    from tui.train import run_train

    run_train(order=order)
