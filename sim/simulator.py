"""Simulated customers beside the agent console: `CustomerSimulator` runs a real-time
`CustomerMix` in its own thread, with its own `Desk` and `Engine` on the same database file,
for `gladdesk demo` (`start`, `stop`, `toggle_pause`, `status_line`).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence
from pathlib import Path

from core.clock import Clock
from core.engine import Engine
from core.errors import DeskError
from core.store import Desk
from core.store.desk import is_postgres_url
from sim.customers import DEMO_RATE, CustomerMix, check_rate
from sim.pacing import RealTimer
from sim.project_files import SCENARIOS_DIR
from sim.scenarios import load_scenarios
from sim.summary import SimulationStats

log = logging.getLogger(__name__)


class CustomerSimulator:
    """Simulated customers in real time, in a background thread beside the agent console.

    Opens its own `Desk` and `Engine` on `db_path` inside the thread. The console calls
    `start()` on mount, `stop()` on exit, `toggle_pause()` from a key, and shows
    `status_line` in its footer.
    """

    def __init__(
        self,
        db_path: Path | str,
        *,
        rate_per_min: float = DEMO_RATE,
        duration_s: float | None = None,
        seed: int | None = None,
        skip_agents: frozenset[str] | set[str] | tuple[str, ...] = (),
        scenarios_dir: Path = SCENARIOS_DIR,
        speed: float = 1.0,
        opening: Sequence[str] = (),
        clock: Clock | None = None,
    ) -> None:
        self.db_path: Path | str = db_path if is_postgres_url(db_path) else Path(db_path)
        self.clock = clock
        self.rate_per_min = check_rate(rate_per_min)
        self.duration_s = duration_s
        self.seed = seed if seed is not None else random.SystemRandom().randrange(1 << 30)
        self.skip_agents = frozenset(skip_agents)
        self.scenarios = list(load_scenarios(scenarios_dir).values())
        self.timer = RealTimer(speed)
        self.opening = tuple(opening)
        self.error: str | None = None
        self._mix: CustomerMix | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._main, name="gladdesk-feed", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            with Desk.open(self.db_path, clock=self.clock, create=False) as desk:
                self._mix = CustomerMix(
                    Engine.for_desk(desk),
                    rate_per_min=self.rate_per_min,
                    duration_s=self.duration_s,
                    seed=self.seed,
                    scenarios=self.scenarios,
                    skip_agents=self.skip_agents,
                    opening=self.opening,
                )
                self._mix.run(self.timer)
        except DeskError as exc:
            self.error = str(exc)
        except Exception as exc:  # the console must keep running; the footer says why
            log.exception("the feed stopped")
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._done.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the customers and wait for the thread (the step in progress completes)."""
        self.timer.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end by itself (with a `duration_s`); True when it has."""
        return self._done.wait(timeout)

    def toggle_pause(self) -> bool:
        """Pause or resume; returns True when now paused."""
        if self.timer.paused:
            self.timer.resume()
        else:
            self.timer.pause()
        return self.timer.paused

    @property
    def paused(self) -> bool:
        return self.timer.paused

    @property
    def stats(self) -> SimulationStats:
        mix = self._mix
        if mix is None:
            return SimulationStats()
        with mix.lock:
            return mix.stats.snapshot()

    @property
    def status_line(self) -> str:
        """One line for the console footer: state, counts, the latest step."""
        if self.error is not None:
            return f"feed stopped: {self.error}"
        stats = self.stats
        if self._thread is None:
            state = "ready"
        elif self._done.is_set():
            state = "done"
        else:
            state = "paused" if self.paused else "running"
        line = (
            f"feed {state} · {stats.customers} customers · {stats.messages} messages"
            f" ({stats.trusted} trusted)"
        )
        return f"{line} · {stats.last}" if stats.last else line
