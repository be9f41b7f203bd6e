"""`gladdesk demo`: the agent console on a working copy of demo.db with the customer feed.

The committed `demo.db` (with `demo.db.keys` and `demo.db.rules.toml` beside it) is only read: the demo works on
a copy in a per-user state folder, `$GLADDESK_STATE_DIR` if set, else
`$XDG_STATE_HOME/gladdesk/` (by default `~/.local/state/gladdesk/`). The copy is kept between
runs, so a demo can be resumed; `--reset` (or a rebuilt demo.db) starts from a fresh copy.

`--db URL` runs the demo in a PostgreSQL database instead: an empty one gets the demo desk
built into it (`sim.demo_desk.build_demo_into`), a demo desk built there before carries on; a
desk that is not the demo's is refused (simulated customers never go into a real desk). Its
keystore, rules and the web side's log live beside `PgDesk.path`, in the same state folder.

`--headless` runs the feed alone and prints a summary; that path never imports Textual.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.addresses import is_loopback
from core.clock import Clock, OffsetClock, SystemClock
from core.errors import DeskError
from core.store import Desk
from core.store.desk import is_postgres_url, redact_url
from sim.customers import CustomerMix
from sim.demo_desk import DEMO_DB, SIDECARS
from sim.pacing import RealTimer
from sim.simulator import CustomerSimulator
from sim.summary import SimulationStats

if TYPE_CHECKING:  # Textual and the web server load only when a demo needs them
    from core.web.background import BackgroundServer
    from tui.app import DeskApp, SimulatedCustomers

STATE_DIR_ENV = "GLADDESK_STATE_DIR"
#: How much faster than life the demo customers play its scripts (reading and typing gaps).
DEMO_SPEED = 2.0
#: Customers per schedule minute: 10 a minute on the wall clock at DEMO_SPEED 2.
DEMO_CUSTOMER_RATE = 5.0
HEADLESS_DEFAULT_S = 10.0
#: The demo's first customers: quick scripts, so conversations arrive within seconds.
DEMO_OPENING = ("most-ideal", "standard")
#: Where `--serve` listens unless told: where `gladdesk serve` does.
DEMO_HOST = "127.0.0.1"
DEMO_PORT = 8080


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
    `reset`, and its clock recorded in it (`demo_clock`). The source is only ever read."""
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
        Path(f"{target}.epoch").unlink(missing_ok=True)  # a fresh copy starts its own time
        # Its clock from the start, before any process (a `gladdesk serve`) opens it.
        demo_clock(target)
        stamp.write_text(digest + "\n")
    return target


def demo_database(url: str) -> str:
    """The demo in a PostgreSQL database: the demo desk built into it when it holds no desk or
    an empty one (`build_demo_into`), else the demo desk it already holds, carried on. A desk
    there that was not built from the demo's fixtures is refused and left alone: simulated
    customers never go into a real desk (`$GLADDESK_DB` may name one). There is no `--reset`
    for a database: the demo never empties one (drop and create it again)."""
    from sim.demo_desk import build_demo_into

    with Desk.open(url, create=True) as desk:
        empty = desk.last_event_id() == 0
        demo = desk.last_event_at("desk.built") is not None
    if empty:
        build_demo_into(url)
        click.echo(f"gladdesk: built the demo desk in {redact_url(url)}", err=True)
    elif not demo:
        raise DeskError(
            f"{redact_url(url)}: holds a desk that is not the demo's; the demo runs only in an"
            " empty database or in one it built"
        )
    return url


def beside(db: Path | str, suffix: str) -> Path:
    """A local file kept with the demo desk `db`: beside the file, or beside a database's
    keystore (`PgDesk.path`)."""
    if is_postgres_url(db):
        from core.store.postgres import sidecar_base

        return Path(f"{sidecar_base(str(db))}{suffix}")
    return Path(f"{db}{suffix}")


def demo_clock(db: Path | str) -> OffsetClock:
    """The demo's own time: it starts at the instant the fixtures were built, when the working
    copy is made, and runs on with the wall clock from there.

    So the fixture chats look as fresh as on the day they were built, and new ones arrive
    "now", after them. The offset is recorded in the working copy itself
    (`Desk.record_clock_offset`), so every process opening it (`gladdesk serve`, `console`,
    `feed`) runs on the same time as the demo; an offset kept by an older gladdesk beside the
    copy (`demo.db.epoch`) is moved into it.
    """
    with Desk.open(db, create=False) as desk:
        if isinstance(desk.clock, OffsetClock):
            return OffsetClock(desk.clock.offset_ms)
        offset = _legacy_offset(db)
        if offset is None:
            built_at = desk.last_event_at("desk.built")
            offset = 0 if built_at is None else SystemClock().now_ms() - int(built_at)
        desk.record_clock_offset(offset)
    beside(db, ".epoch").unlink(missing_ok=True)
    return OffsetClock(offset)


def _legacy_offset(db: Path | str) -> int | None:
    epoch = beside(db, ".epoch")
    with contextlib.suppress(OSError, ValueError):
        return int(epoch.read_text().strip())
    return None


def _print_summary(stats: SimulationStats, db: Path | str, seconds: float) -> None:
    click.echo(f"demo feed: {seconds:.0f} s on {redact_url(str(db))}")
    for line in stats.summary_lines():
        click.echo(f"  {line}")


def run_headless(
    db: Path | str, *, duration: float, seed: int | None = None, clock: Clock | None = None
) -> SimulationStats:
    """The demo feed in the foreground for `duration` seconds, without a terminal UI."""
    from core.engine import Engine

    controller_seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
    with Desk.open(db, clock=clock or demo_clock(db), create=False) as desk:
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


class ServedFeed:
    """The simulated customers as the console sees them, with the portal's address first in
    their status line (the console's status bar), while the web side runs."""

    def __init__(self, customers: CustomerSimulator, portal_url: str) -> None:
        self.customers = customers
        self.portal_url = portal_url

    def start(self) -> None:
        self.customers.start()

    def stop(self) -> None:
        self.customers.stop()

    def toggle_pause(self) -> bool:
        return self.customers.toggle_pause()

    @property
    def status_line(self) -> str:
        return f"portal {self.portal_url} · {self.customers.status_line}"


@dataclass
class DemoRun:
    """A demo ready to run: the console, its simulated customers and, with `--serve`, the web
    side on a thread. `close()` stops them all (the app must have exited)."""

    app: DeskApp
    customers: CustomerSimulator
    server: BackgroundServer | None

    @property
    def portal_url(self) -> str | None:
        return (
            None
            if self.server is None or self.server.base_url is None
            else self.server.base_url + "/demo"
        )

    def close(self) -> None:
        try:
            self.customers.stop()
        finally:
            try:
                if self.server is not None:
                    self.server.stop()
            finally:
                self.app.data.close()


def start_server(db: Path | str, clock: Clock, *, host: str, port: int) -> BackgroundServer:
    """The web side of the demo on a thread: the app `gladdesk serve` runs, on the demo's
    clock; its log beside the working copy. DeskError when host:port cannot be served."""
    from core.web.background import BackgroundServer

    if not is_loopback(host):
        click.echo(
            f"gladdesk: serving the demo on {host}: anyone who reaches it can log in on the"
            " portal as any demo customer",
            err=True,
        )
    server = BackgroundServer(
        db, host=host, port=port, clock=clock, log_path=beside(db, ".serve.log")
    )
    server.start()
    return server


def make_demo(
    db: Path | str,
    *,
    agent: str = "alice",
    seed: int | None = None,
    serve: bool = False,
    host: str = DEMO_HOST,
    port: int = DEMO_PORT,
    clock: Clock | None = None,
) -> DemoRun:
    """The console on the working copy `db` with its customers and, with `serve`, the web
    side; nothing is left running when this raises."""
    from tui.app import make_app

    clock = clock or demo_clock(db)
    server = start_server(db, clock, host=host, port=port) if serve else None
    controller = CustomerSimulator(
        db,
        clock=clock,
        rate_per_min=DEMO_CUSTOMER_RATE,
        seed=seed,
        skip_agents={agent},
        speed=DEMO_SPEED,
        opening=DEMO_OPENING,
    )
    customers: SimulatedCustomers = controller
    if server is not None and server.base_url is not None:
        customers = ServedFeed(controller, server.base_url + "/demo")
    try:
        # New chats go to the least-loaded agent: the demo opens on every conversation.
        app = make_app(db, agent=agent, clock=clock, customers=customers, queue_view="all")
    except BaseException:
        if server is not None:
            server.stop()
        raise
    return DemoRun(app, controller, server)


def run_demo(
    *,
    agent: str = "alice",
    reset: bool = False,
    headless: bool = False,
    duration: float | None = None,
    seed: int | None = None,
    serve: bool = False,
    host: str = DEMO_HOST,
    port: int = DEMO_PORT,
    database: str | None = None,
) -> None:
    """`gladdesk demo`: console + feed on the working copy (or in the PostgreSQL `database`);
    `headless` runs the feed alone; `serve` runs the web side (`gladdesk serve`'s app)
    beside them."""
    db: Path | str = demo_database(database) if database is not None else working_copy(reset=reset)
    if headless:
        _run_headless_demo(db, duration or HEADLESS_DEFAULT_S, seed, serve, host, port)
        return
    demo = make_demo(db, agent=agent, seed=seed, serve=serve, host=host, port=port)
    app = demo.app
    auto_pilot = None
    if duration is not None:

        async def auto_pilot(pilot: object) -> None:
            import asyncio

            await asyncio.sleep(duration)
            app.exit()

    try:
        app.run(auto_pilot=auto_pilot)  # type: ignore[arg-type]
    finally:
        demo.close()
    controller = demo.customers
    if controller.error:
        click.echo(f"demo: the feed stopped: {controller.error}", err=True)
    _print_summary(controller.stats, db, controller.timer.elapsed() / DEMO_SPEED)
    if demo.portal_url:
        click.echo(f"demo portal was served at {demo.portal_url}")
    if app.return_code:
        raise SystemExit(app.return_code)


def _run_headless_demo(
    db: Path | str, seconds: float, seed: int | None, serve: bool, host: str, port: int
) -> None:
    clock = demo_clock(db)
    server = start_server(db, clock, host=host, port=port) if serve else None
    try:
        if server is not None:
            click.echo(f"demo portal at {server.base_url}/demo (for {seconds:.0f} s)")
        stats = run_headless(db, duration=seconds, seed=seed, clock=clock)
    finally:
        if server is not None:
            server.stop()
    _print_summary(stats, db, seconds)
