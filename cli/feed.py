"""`gladdesk feed`: simulated customers playing scenario scripts against a desk.

In this process on the `--db` desk, or with `--url` against a running server over HTTP, as a
real widget would (see sim/widget_client.py and sim/http_widget.py).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.common import db_path, open_desk
from core.errors import DeskError

if TYPE_CHECKING:
    from sim.customers import CustomerMix
    from sim.pacing import Timer
    from sim.summary import SimulationStats
    from sim.widget_client import WidgetClient

PACES = ("real", "fast")


@dataclass(frozen=True, slots=True)
class Server:
    """The server simulated customers drive over HTTP, and the API user that mints their
    login tokens."""

    url: str
    api_user: str | None
    api_token: str | None
    app_id: str
    need_tokens: bool


def _check_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from sim.http_widget import check_url

    if value is None:
        return None
    try:
        return check_url(value)
    except DeskError as exc:
        raise click.BadParameter(str(exc)) from None


def _default_pace() -> str:
    """Real-time pacing for a person at a terminal; virtual time for scripts and pipes."""
    return "real" if sys.stdout.isatty() else "fast"


@click.command("feed")
@click.option("--scenario", "scenario_name", metavar="NAME", help="Run this one script.")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    metavar="N",
    help="Customers per minute (a random mix).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True, max=7 * 24 * 3600),
    metavar="S",
    help="Seconds of arrivals (with --rate).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the random mix.")
@click.option(
    "--pace",
    type=click.Choice(PACES),
    default=None,
    help="real: wall-clock time; fast: virtual time, no waiting. [default: real on a terminal]",
)
@click.option(
    "--scripts",
    "scripts_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of scenario scripts (default: fixtures/scenarios).",
)
@click.option(
    "--skip-agent",
    "skip_agents",
    multiple=True,
    metavar="HANDLE",
    help="Leave this agent's replies to a person (repeatable).",
)
@click.option(
    "--url",
    metavar="URL",
    callback=_check_url,
    help="Drive a running server (gladdesk serve) over HTTP instead of the --db desk.",
)
@click.option(
    "--api-user",
    metavar="EMAIL",
    envvar="GLADDESK_API_USER",
    help="With --url: the API user that mints login tokens (gladdesk api-users add).",
)
@click.option(
    "--api-token",
    metavar="TOKEN",
    envvar="GLADDESK_API_TOKEN",
    help="With --url: that API user's token.",
)
@click.option(
    "--app",
    "app_id",
    metavar="APP_ID",
    default=None,
    help="With --url: the widget's app id. [default: retale, the demo's]",
)
@click.option("--list", "list_only", is_flag=True, help="List the scripts and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def feed_command(
    ctx: click.Context,
    scenario_name: str | None,
    rate: float | None,
    duration: float | None,
    seed: int,
    pace: str | None,
    scripts_dir: Path | None,
    skip_agents: tuple[str, ...],
    url: str | None,
    api_user: str | None,
    api_token: str | None,
    app_id: str | None,
    list_only: bool,
    as_json: bool,
) -> None:
    """Simulated customers: one script (--scenario NAME) or a mix (--rate N --duration S).

    Scripts live in fixtures/scenarios/*.toml. With --pace fast the desk clock is virtual:
    a 60-second feed finishes in moments, every customer who arrived plays their script to
    the end, and the same seed gives the same conversations. With --pace real, customers
    still mid-script when the duration ends are cut off.

    Times follow the desk's own clock (a demo copy lives in its own time) and never go back
    before what the desk holds; a fast --scenario run is dated to end at the desk's "now".
    A --scenario run is a story of its own: chats an earlier run left open for the script's
    people are closed first, and the customer's widget session ends with the script.

    With --url the customers talk to a running server over HTTP (the widget API; login
    tokens come from the admin API with --api-user/--api-token) and --db is not used. Agents
    do not act over HTTP: their steps count as skipped. The server keeps its own clock, so
    --pace fast only stops waiting: scripts that need a long wait to pass play at --pace real.
    """
    from sim.project_files import SCENARIOS_DIR
    from sim.scenarios import find_scenario, load_scenarios

    folder = scripts_dir or SCENARIOS_DIR
    if list_only:
        for name, script in load_scenarios(folder).items():
            order = f"order {script.order}" if script.order else "variation"
            click.echo(f"{name:20} {order:10} {script.title}")
        return
    _check_options(ctx, scenario_name, rate, duration, url, app_id, skip_agents)
    pace = pace or _default_pace()
    if scenario_name is not None:
        scripts = [find_scenario(scenario_name, folder)]
    else:
        scripts = list(load_scenarios(folder).values())
    server = None if url is None else _server(url, api_user, api_token, app_id, scripts, pace)
    if server is not None and pace == "fast" and scenario_name is None:
        from sim.http_widget import needs_real_time

        scripts = [s for s in scripts if not needs_real_time(s)]
    if scenario_name is not None:
        stats = _run_one(ctx, scripts[0], pace, as_json, server)
    else:
        assert rate is not None and duration is not None
        stats = _run_mix(
            ctx, scripts, rate, duration, seed, pace, frozenset(skip_agents), as_json, server
        )
    if stats.errors or stats.mismatches:
        sys.exit(1)


def _check_options(
    ctx: click.Context,
    scenario_name: str | None,
    rate: float | None,
    duration: float | None,
    url: str | None,
    app_id: str | None,
    skip_agents: tuple[str, ...],
) -> None:
    """The options that go together (usage errors, before anything is read)."""
    if scenario_name is not None and rate is not None:
        raise click.UsageError("give either --scenario NAME or --rate N --duration S, not both")
    if scenario_name is None and rate is None:
        raise click.UsageError("give --scenario NAME, or --rate N --duration S (see --list)")
    if rate is not None and duration is None:
        raise click.UsageError("--rate needs --duration S (seconds of arrivals)")
    if scenario_name is not None and duration is not None:
        raise click.UsageError("--duration goes with --rate; a --scenario runs to its end")
    if url is None:
        for option, name in (("--api-user", "api_user"), ("--api-token", "api_token")):
            if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
                raise click.UsageError(f"{option} goes with --url (a server to drive)")
        if app_id is not None:
            raise click.UsageError("--app goes with --url (a server to drive)")
    elif skip_agents:
        raise click.UsageError("--skip-agent has no effect with --url: agents do not act over HTTP")


def _server(
    url: str,
    api_user: str | None,
    api_token: str | None,
    app_id: str | None,
    scripts: list[Any],
    pace: str,
) -> Server:
    """Check the HTTP options against the scripts to run (usage errors, before any request)."""
    from sim.http_widget import DEFAULT_APP_ID, LONG_WAIT_S, needs_real_time, needs_tokens

    if app_id is not None and not app_id.strip():
        raise click.BadParameter("expected an app id", param_hint="--app")
    if pace == "fast" and len(scripts) == 1 and needs_real_time(scripts[0]):
        raise click.UsageError(
            f"{scripts[0].name} waits {LONG_WAIT_S:g} s or more and checks what the wait did;"
            " over HTTP the server keeps its own clock: use --pace real"
        )
    if pace == "fast" and all(needs_real_time(s) for s in scripts):
        raise click.UsageError("every script needs a long wait: use --pace real over HTTP")
    need_tokens = any(needs_tokens(s) for s in scripts)
    if need_tokens and not (api_user and api_token):
        raise click.UsageError(
            "--url needs --api-user EMAIL and --api-token TOKEN (or GLADDESK_API_USER and"
            " GLADDESK_API_TOKEN) to mint login tokens: gladdesk api-users add EMAIL"
        )
    return Server(url, api_user, api_token, app_id or DEFAULT_APP_ID, need_tokens)


def _demo_desk_if_missing(ctx: click.Context) -> None:
    """A --db that does not exist yet (a missing file, or a PostgreSQL database without any
    table) gets the demo desk (the scripts' app, agents and customers), so that `gladdesk feed
    --scenario NAME --db new.db` plays on a fresh one."""
    path = db_path(ctx)
    if not isinstance(path, Path):
        from core.store.desk import redact_url
        from sim.demo_desk import build_demo_if_new

        if build_demo_if_new(path):
            click.echo(
                f"gladdesk: {redact_url(path)} held no desk: built the demo desk there", err=True
            )
        return
    if path.exists():
        return
    if not path.parent.is_dir():
        raise DeskError(
            f"{path}: no such desk database, and no folder {path.parent} to build one in"
        )
    from sim.demo_desk import build_demo

    build_demo(path)
    click.echo(f"gladdesk: {path} did not exist: built the demo desk there", err=True)


@contextlib.contextmanager
def _customers_side(
    ctx: click.Context, pace: str, server: Server | None, *, length_s: float = 0.0
) -> Iterator[tuple[WidgetClient, Any]]:
    """What the customers talk to (an Engine on the --db desk, or a server over HTTP), and
    the clock their time runs on.

    On the --db desk that is the desk's own time (a demo copy lives in its own), never before
    what the desk already holds, so runs one after another tell their stories in order; a
    fast run of `length_s` virtual seconds is dated to end at the desk's "now".
    """
    if server is None:
        from core.engine import Engine
        from sim.pacing import customers_clock
        from sim.widget_client import EngineWidget

        _demo_desk_if_missing(ctx)
        with open_desk(ctx) as desk:
            desk.clock = customers_clock(desk, pace, length_s=length_s)
            yield EngineWidget(Engine.for_desk(desk)), desk.clock
        return
    from core.clock import SystemClock
    from sim.http_widget import HttpWidget, SimulationAborted
    from sim.pacing import virtual_start_clock

    # The server keeps its own clock; this one only paces the customers.
    clock = virtual_start_clock() if pace == "fast" else SystemClock()
    with HttpWidget(
        server.url, api_user=server.api_user, api_token=server.api_token, app_id=server.app_id
    ) as widget:
        try:
            widget.check(need_tokens=server.need_tokens)
            yield widget, clock
        except SimulationAborted as exc:
            raise DeskError(str(exc)) from None


def _timer_for(pace: str, clock: Any) -> Any:
    from sim.pacing import RealTimer, VirtualTimer

    return VirtualTimer(clock) if pace == "fast" else RealTimer()


def _report(stats: Any, as_json: bool, header: str) -> None:
    if as_json:
        click.echo(json.dumps(stats.as_dict(), indent=2))
        return
    click.echo(header)
    for line in stats.summary_lines():
        click.echo(f"  {line}")


def _run_one(
    ctx: click.Context, script: Any, pace: str, as_json: bool, server: Server | None
) -> Any:
    from sim.customers import play_script, script_length_s

    gap_s = 2.0 if pace == "real" else 5.0
    length_s = script_length_s(script, gap_s)
    with _customers_side(ctx, pace, server, length_s=length_s) as (customers, clock):

        def on_step(outcome: Any) -> None:
            if not as_json:
                mark = " (!)" if outcome.error or outcome.mismatch else ""
                click.echo(f"  {outcome.step.index + 1:>2}. {outcome.summary}{mark}")

        def on_note(note: str) -> None:
            if not as_json:
                click.echo(f"  {note}")

        run, stats = play_script(
            customers,
            script,
            _timer_for(pace, clock),
            gap_s=gap_s,
            on_step=on_step,
            on_note=on_note,
        )
    conversations = ", ".join(str(c) for c in run.conversations) or "none"
    _report(stats, as_json, f"{script.name}: done; conversations {conversations}")
    return stats


def _run_mix(
    ctx: click.Context,
    scripts: list[Any],
    rate: float,
    duration: float,
    seed: int,
    pace: str,
    skip_agents: frozenset[str],
    as_json: bool,
    server: Server | None,
) -> Any:
    from sim.customers import CustomerMix

    with _customers_side(ctx, pace, server) as (customers, clock):
        mix = CustomerMix(
            customers,
            rate_per_min=rate,
            duration_s=duration,
            seed=seed,
            scenarios=scripts,
            skip_agents=skip_agents,
            # Simulated agents answer and close chats in-process; over HTTP they cannot.
            wrap_up=server is None,
            drain=pace == "fast",
        )
        timer = _timer_for(pace, clock)
        started = time.monotonic()
        if sys.stdout.isatty() and not as_json:
            stats = _run_with_progress_bar(mix, timer, rate, duration)
        else:
            stats = mix.run(timer)
        wall_s = time.monotonic() - started
        requests = getattr(customers, "requests", None)  # an HttpWidget counts its requests
    where = f" against {server.url}" if server is not None else ""
    header = f"feed: {rate:g} customers/min for {duration:g} s ({pace} pace){where}"
    if as_json:
        data = stats.as_dict()
        if requests is not None:
            data["http_requests"] = requests
        if pace == "real":
            data["wall_s"] = round(wall_s, 3)
            data["max_lag_s"] = round(timer.max_lag_s, 3)
        click.echo(json.dumps(data, indent=2))
    else:
        _report(stats, False, header)
    return stats


def _run_with_progress_bar(
    mix: CustomerMix, timer: Timer, rate: float, duration: float
) -> SimulationStats:
    """Run the mix under a progress bar of schedule seconds (for a person at a terminal)."""
    with click.progressbar(
        length=max(1, int(duration)), label=f"feed {rate:g}/min", show_pos=True
    ) as bar:
        done = [0]

        def on_progress(stats: SimulationStats) -> None:
            reached = min(int(stats.schedule_s), int(duration))
            if reached > done[0]:
                bar.update(reached - done[0])
                done[0] = reached

        return mix.run(timer, on_progress=on_progress)
