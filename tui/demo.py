"""`gladdesk demo`: the agent console on a working copy of demo.db with the customer feed.

The committed `demo.db` (with `demo.db.keys` and `demo.db.rules.toml` beside it) is only read: the demo works on
a copy in a per-user state folder, `$GLADDESK_STATE_DIR` if set, else
`$XDG_STATE_HOME/gladdesk/` (by default `~/.local/state/gladdesk/`). The copy is kept between
runs, so a demo can be resumed; `--reset` (or a rebuilt demo.db) starts from a fresh copy.

`--headless` runs the feed alone and prints a summary; that path never imports Textual.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import click

from core.clock import OffsetClock, SystemClock
from core.errors import DeskError
from core.store import Desk
from sim.customers import CustomerMix
from sim.demo_desk import DEMO_DB, SIDECARS
from sim.pacing import EPOCH_SUFFIX, RealTimer, epoch_clock
from sim.simulator import CustomerSimulator
from sim.summary import SimulationStats

STATE_DIR_ENV = "GLADDESK_STATE_DIR"
#: How much faster than life the demo customers play its scripts (reading and typing gaps).
DEMO_SPEED = 2.0
#: Customers per schedule minute: 10 a minute on the wall clock at DEMO_SPEED 2.
DEMO_CUSTOMER_RATE = 5.0
HEADLESS_DEFAULT_S = 10.0
#: The demo's first customers: quick scripts, so conversations arrive within seconds.
DEMO_OPENING = ("most-ideal", "standard")


def state_dir() -> Path:
    """Where the demo's working copy lives (see the module docstring)."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "gladdesk"


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _copy_into(source: Path, target: Path) -> None:
    """Copy atomically: a temp file in the target's folder, then rename over it."""
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, temp)
        os.chmod(temp, 0o600)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def working_copy(
    *, reset: bool = False, source: Path | None = None, folder: Path | None = None
) -> Path:
    """The demo's working database, copied from `source` (demo.db) when missing, stale or
    `reset`. The source is only ever read."""
    source = Path(source) if source is not None else DEMO_DB
    if not source.is_file():
        raise DeskError(
            f"{source}: the demo desk is missing; build it with `gladdesk db build-demo`"
        )
    folder = folder or state_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise DeskError(
            f"{folder}: cannot create the demo folder ({exc.strerror}); set {STATE_DIR_ENV}"
        ) from None
    target = folder / "demo.db"
    stamp = folder / "demo.db.source"
    digest = _digest(source)
    recorded = stamp.read_text().strip() if stamp.is_file() else None
    if reset or not target.is_file() or recorded != digest:
        for stale in (Path(f"{target}-wal"), Path(f"{target}-shm")):
            stale.unlink(missing_ok=True)
        _copy_into(source, target)
        for suffix in SIDECARS:  # the keystore and the rules go with the desk
            beside = Path(f"{source}{suffix}")
            if beside.is_file():
                _copy_into(beside, Path(f"{target}{suffix}"))
            else:
                Path(f"{target}{suffix}").unlink(missing_ok=True)
        stamp.write_text(digest + "\n")
        Path(f"{target}{EPOCH_SUFFIX}").unlink(missing_ok=True)  # a fresh copy starts its own time
    return target


def demo_clock(db: Path) -> OffsetClock:
    """The demo's own time: it starts at the instant the fixtures were built, when the working
    copy is made, and runs on with the wall clock from there (kept in `demo.db.epoch`).

    So the fixture chats look as fresh as on the day they were built, and new ones arrive
    "now", after them.
    """
    kept = epoch_clock(db)
    if kept is not None:
        return kept
    with Desk.open(db, create=False) as desk:
        built_at = desk.last_event_at("desk.built")
    offset = 0 if built_at is None else SystemClock().now_ms() - int(built_at)
    Path(f"{db}{EPOCH_SUFFIX}").write_text(f"{offset}\n")
    return OffsetClock(offset)


def _print_summary(stats: SimulationStats, db: Path, seconds: float) -> None:
    click.echo(f"demo feed: {seconds:.0f} s on {db}")
    for line in stats.summary_lines():
        click.echo(f"  {line}")


def run_headless(db: Path, *, duration: float, seed: int | None = None) -> SimulationStats:
    """The demo feed in the foreground for `duration` seconds, without a terminal UI."""
    from core.engine import Engine

    controller_seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
    with Desk.open(db, clock=demo_clock(db), create=False) as desk:
        mix = CustomerMix(
            Engine.for_desk(desk),
            rate_per_min=DEMO_CUSTOMER_RATE,
            duration_s=duration * DEMO_SPEED,
            seed=controller_seed,
            opening=DEMO_OPENING,
        )
        timer = RealTimer(DEMO_SPEED)
        try:
            return mix.run(timer)
        except KeyboardInterrupt:
            return mix.stats


def run_demo(
    *,
    agent: str = "alice",
    reset: bool = False,
    headless: bool = False,
    duration: float | None = None,
    seed: int | None = None,
) -> None:
    """`gladdesk demo`: console + feed on the working copy; `headless` runs the feed alone."""
    db = working_copy(reset=reset)
    if headless:
        seconds = duration or HEADLESS_DEFAULT_S
        stats = run_headless(db, duration=seconds, seed=seed)
        _print_summary(stats, db, seconds)
        return
    from tui.app import make_app

    clock = demo_clock(db)
    controller = CustomerSimulator(
        db,
        clock=clock,
        rate_per_min=DEMO_CUSTOMER_RATE,
        seed=seed,
        skip_agents={agent},
        speed=DEMO_SPEED,
        opening=DEMO_OPENING,
    )
    # New chats go to the least-loaded agent: the demo opens on every conversation.
    app = make_app(db, agent=agent, clock=clock, customers=controller, queue_view="all")
    auto_pilot = None
    if duration is not None:

        async def auto_pilot(pilot: object) -> None:
            import asyncio

            await asyncio.sleep(duration)
            app.exit()

    try:
        app.run(auto_pilot=auto_pilot)  # type: ignore[arg-type]
    finally:
        controller.stop()
        app.desk.close()
    if controller.error:
        click.echo(f"demo: the feed stopped: {controller.error}", err=True)
    _print_summary(controller.stats, db, controller.timer.elapsed() / DEMO_SPEED)
    if app.return_code:
        raise SystemExit(app.return_code)
