"""`gladdesk feed`: simulated customers playing scenario scripts against a desk."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from core.cli import open_desk

PACES = ("real", "fast")


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
    list_only: bool,
    as_json: bool,
) -> None:
    """Simulated customers: one script (--scenario NAME) or a mix (--rate N --duration S).

    Scripts live in fixtures/scenarios/*.toml. With --pace fast the desk clock is virtual:
    a 60-second feed finishes in moments, every customer who arrived plays their script to
    the end, and the same seed gives the same conversations. With --pace real, customers
    still mid-script when the duration ends are cut off.
    """
    from core.scenarios import SCENARIOS_DIR, find_scenario, load_scenarios

    folder = scripts_dir or SCENARIOS_DIR
    if list_only:
        for name, script in load_scenarios(folder).items():
            order = f"order {script.order}" if script.order else "variation"
            click.echo(f"{name:20} {order:10} {script.title}")
        return
    if scenario_name is not None and rate is not None:
        raise click.UsageError("give either --scenario NAME or --rate N --duration S, not both")
    if scenario_name is None and rate is None:
        raise click.UsageError("give --scenario NAME, or --rate N --duration S (see --list)")
    if rate is not None and duration is None:
        raise click.UsageError("--rate needs --duration S (seconds of arrivals)")
    if scenario_name is not None and duration is not None:
        raise click.UsageError("--duration goes with --rate; a --scenario runs to its end")
    pace = pace or _default_pace()
    if scenario_name is not None:
        script = find_scenario(scenario_name, folder)
        stats = _run_one(ctx, script, pace, as_json)
    else:
        assert rate is not None and duration is not None
        scripts = list(load_scenarios(folder).values())
        stats = _run_mix(ctx, scripts, rate, duration, seed, pace, frozenset(skip_agents), as_json)
    if stats.errors or stats.mismatches:
        sys.exit(1)


def _clock_for(pace: str) -> Any:
    from core.clock import SystemClock
    from core.feed import virtual_start_clock

    return virtual_start_clock() if pace == "fast" else SystemClock()


def _timer_for(pace: str, clock: Any) -> Any:
    from core.feed import RealTimer, VirtualTimer

    return VirtualTimer(clock) if pace == "fast" else RealTimer()


def _report(stats: Any, as_json: bool, header: str) -> None:
    if as_json:
        click.echo(json.dumps(stats.as_dict(), indent=2))
        return
    click.echo(header)
    for line in stats.summary_lines():
        click.echo(f"  {line}")


def _run_one(ctx: click.Context, script: Any, pace: str, as_json: bool) -> Any:
    from core.engine import Engine
    from core.feed import play

    clock = _clock_for(pace)
    with open_desk(ctx) as desk:
        desk.clock = clock

        def on_step(outcome: Any) -> None:
            if not as_json:
                mark = " (!)" if outcome.error or outcome.mismatch else ""
                click.echo(f"  {outcome.step.index + 1:>2}. {outcome.summary}{mark}")

        run, stats = play(
            Engine(desk),
            script,
            _timer_for(pace, clock),
            gap_s=2.0 if pace == "real" else 5.0,
            on_step=on_step,
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
) -> Any:
    from core.engine import Engine
    from core.feed import Feed

    clock = _clock_for(pace)
    with open_desk(ctx) as desk:
        desk.clock = clock
        feed = Feed(
            Engine(desk),
            rate_per_min=rate,
            duration_s=duration,
            seed=seed,
            scenarios=scripts,
            skip_agents=skip_agents,
            drain=pace == "fast",
        )
        timer = _timer_for(pace, clock)
        started = time.monotonic()
        if sys.stdout.isatty() and not as_json:
            with click.progressbar(
                length=max(1, int(duration)), label=f"feed {rate:g}/min", show_pos=True
            ) as bar:
                done = [0]

                def on_progress(stats: Any) -> None:
                    reached = min(int(stats.schedule_s), int(duration))
                    if reached > done[0]:
                        bar.update(reached - done[0])
                        done[0] = reached

                stats = feed.run(timer, on_progress=on_progress)
        else:
            stats = feed.run(timer)
        wall_s = time.monotonic() - started
    header = f"feed: {rate:g} customers/min for {duration:g} s ({pace} pace)"
    if as_json:
        data = stats.as_dict()
        if pace == "real":
            data["wall_s"] = round(wall_s, 3)
            data["max_lag_s"] = round(timer.max_lag_s, 3)
        click.echo(json.dumps(data, indent=2))
    else:
        _report(stats, False, header)
    return stats


def register(main: click.Group) -> None:
    main.add_command(feed_command)
