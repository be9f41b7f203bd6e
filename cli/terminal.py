"""The terminal commands: `gladdesk console`, `demo` and `train`.

Textual is imported only inside them, so every other command runs without it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.common import db_given, db_path, desk_free
from core.store.desk import is_postgres_url


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
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="Work on the desk served at URL (`gladdesk serve`) over the network, signed in with"
    " your agent token: from $GLADDESK_AGENT_TOKEN, --token-file, or asked for.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --url: a file holding your agent token (readable by you alone).",
)
@click.option(
    "--insecure-http",
    is_flag=True,
    help="With --url: allow plain http:// to a host other than this machine (the token"
    " crosses the network unencrypted: only on a network you trust).",
)
@click.pass_context
def console(
    ctx: click.Context,
    agent: str,
    keys_path: Path | None,
    view: str,
    url: str | None,
    token_file: Path | None,
    insecure_http: bool,
) -> None:
    """The agent console on a desk: a file or database here, or a desk's server (--url)."""
    if url is None:
        if token_file is not None or insecure_http:
            raise click.UsageError("--token-file and --insecure-http go with --url", ctx=ctx)
        from tui.app import run_console

        ctx.exit(run_console(db_path(ctx), agent=agent, config_path=keys_path, queue_view=view))
    if db_given(ctx):
        raise click.UsageError("--db and --url name two desks: give one of them", ctx=ctx)
    from core.console.signin import agent_token, check_server_url
    from tui.app import make_remote_app, run_app

    check_server_url(url, insecure_http=insecure_http)
    token = agent_token(token_file, prompt=_ask_token)
    app = make_remote_app(url, token, agent=agent, config_path=keys_path, queue_view=view)
    ctx.exit(run_app(app))


def _ask_token() -> str | None:
    """The token typed at a prompt that does not echo it; None when there is no terminal."""
    if not sys.stdin.isatty():
        return None
    return str(click.prompt("Agent token", hide_input=True, err=True))


@desk_free(
    "the demo works on its own copy of demo.db, in $GLADDESK_STATE_DIR (default"
    " ~/.local/state/gladdesk/), or in a PostgreSQL database given as --db URL; the console"
    " on a desk of yours: gladdesk console --db PATH --agent HANDLE",
    databases=True,
)
@click.command()
@click.option("--agent", default="alice", show_default=True, help="Agent handle to work as.")
@click.option("--reset", is_flag=True, help="Start from a fresh copy of demo.db.")
@click.option("--headless", is_flag=True, help="Run the feed without a terminal; print a summary.")
@click.option("--duration", type=click.FloatRange(min=0.1), default=None, help="Seconds to run.")
@click.option("--seed", type=int, default=None, help="Seed for the simulated customers.")
@click.option(
    "--serve",
    is_flag=True,
    help="Run the web side too (widget API, /demo portal, admin API), as `gladdesk serve`"
    " would, on the same copy and clock.",
)
@click.option(
    "--host", default=None, help="With --serve: address to listen on. [default: 127.0.0.1]"
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="With --serve: TCP port (0: any free one). [default: 8080]",
)
@click.pass_context
def demo(
    ctx: click.Context,
    agent: str,
    reset: bool,
    headless: bool,
    duration: float | None,
    seed: int | None,
    serve: bool,
    host: str | None,
    port: int | None,
) -> None:
    """The agent console on a working copy of demo.db with the simulated customer feed.

    The committed demo.db is never modified; the copy lives in $GLADDESK_STATE_DIR
    (default ~/.local/state/gladdesk/). With --serve, the portal's address shows in the
    console's status bar, and is printed when the demo ends.
    """
    from tui.demo import DEMO_HOST, DEMO_PORT, run_demo

    if not serve and (host is not None or port is not None):
        raise click.UsageError("--host and --port go with --serve")
    location = db_path(ctx)
    database = str(location) if is_postgres_url(location) else None
    if database is not None and reset:
        raise click.UsageError("--reset renews the demo's own copy; a database is used as it is")
    run_demo(
        database=database,
        agent=agent,
        reset=reset,
        headless=headless,
        duration=duration,
        seed=seed,
        serve=serve,
        host=DEMO_HOST if host is None else host,
        port=DEMO_PORT if port is None else port,
    )


@desk_free("the trainer builds a throwaway desk of its own, removed when it ends")
@click.command()
@click.option("--order", default=None, help="Start at this authentication order (e.g. standard).")
@click.pass_context
def train(ctx: click.Context, order: str | None) -> None:
    """Trainer mode: step through the five authentication orders."""
    from tui.train import run_train

    run_train(order=order)
