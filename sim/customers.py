"""Simulated customers: scenario scripts played by many customers over time.

`CustomerMix` is the random mix (`gladdesk feed --rate`, the demo's customers): arrivals at a
rate, each a script cast with fixture people. `play_script` plays one script as written
(`gladdesk feed --scenario`). Both drive the desk through a `sim.widget_client.WidgetClient`.

Deterministic for a seed: one seeded `random.Random` decides arrivals, scripts, who plays
whom and what they say, and events run in schedule order on one thread. A `sim.pacing.Timer`
decides what schedule seconds mean (virtual or real time).
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any

from core.engine import Engine
from core.errors import DeskError
from sim.casting import Casting
from sim.pacing import Timer
from sim.scenarios import Scenario, load_scenarios
from sim.script_run import WRAP_UP, ScriptRun, StepOutcome
from sim.summary import SimulationStats
from sim.widget_client import WidgetClient, as_widget_client

#: The demo's pace: customers per minute a person watching the console can follow.
DEMO_RATE = 8.0
#: Schedule seconds between the timers the desk runs (trust lapses, login holds).
TICK_EVERY_S = 5.0
#: Seconds a simulated customer takes between two steps (reading, typing).
STEP_GAP_S = (1.5, 6.0)
#: Seconds before a simulated agent answers and closes a chat whose script has ended.
WRAP_UP_DELAY_S = (10.0, 60.0)
MAX_RATE = 100_000.0
# What a scheduled event is: a customer's arrival (payload: its number), a customer's next
# step (payload: the ScriptRun), or the desk's timers.
_ARRIVAL, _STEP, _TICK = 0, 1, 2


def check_rate(rate_per_min: object) -> float:
    if isinstance(rate_per_min, bool) or not isinstance(rate_per_min, int | float):
        raise DeskError("rate: expected a number of customers per minute")
    if not 0 < rate_per_min <= MAX_RATE:
        raise DeskError(f"rate: expected more than 0 and at most {MAX_RATE:g} customers per minute")
    return float(rate_per_min)


class CustomerMix:
    """A random mix of scripts: customers arrive at `rate_per_min` for `duration_s`.

    `desk` is the desk in this process, or a `WidgetClient` for a server (customers only).

    No customer arrives after `duration_s`. With `drain`, those already there play their
    scripts to the end (cheap in virtual time); without, steps due after `duration_s` are not
    run and those customers count as cut off. With `duration_s=None` it runs until the timer
    stops it.
    """

    def __init__(
        self,
        desk: Engine | WidgetClient,
        *,
        rate_per_min: float,
        duration_s: float | None,
        seed: int = 0,
        scenarios: Sequence[Scenario] | None = None,
        casting: Casting | None = None,
        skip_agents: frozenset[str] = frozenset(),
        wrap_up: bool = True,
        drain: bool = False,
        opening: Sequence[str] = (),
    ) -> None:
        self.client = as_widget_client(desk)
        self.drain = drain
        self.rate_per_min = check_rate(rate_per_min)
        if duration_s is not None and not 0 < duration_s <= 7 * 24 * 3600:
            raise DeskError("duration: expected more than 0 seconds and at most a week")
        self.duration_s = duration_s
        self.rng = random.Random(seed)
        pool = list(scenarios if scenarios is not None else load_scenarios().values())
        self.scenarios = [s for s in pool if s.mix_weight > 0]
        if not self.scenarios:
            raise DeskError("feed: no scenario has a mix_weight above 0")
        self.weights = [s.mix_weight for s in self.scenarios]
        by_name = {s.name: s for s in pool}
        unknown = [name for name in opening if name not in by_name]
        if unknown:
            raise DeskError(f"feed: no scenario {unknown[0]!r} to open with")
        #: The first customers play these scripts, in order, before the random mix.
        self.opening = [by_name[name] for name in opening]
        self.casting = casting or Casting()
        self.skip_agents = skip_agents
        self.wrap_up = wrap_up
        self.stats = SimulationStats()
        #: Held while `stats` changes: another thread may read them (`stats.snapshot()`).
        self.lock = threading.Lock()

    def _arrive(self, number: int) -> ScriptRun:
        """Customer `number` arrives with a script: the opening ones first, then at random."""
        if number < len(self.opening):
            scenario = self.opening[number]
        else:
            scenario = self.rng.choices(self.scenarios, self.weights)[0]
        run = ScriptRun(
            self.client,
            scenario,
            self.casting.cast(scenario, self.rng),
            skip_agents=self.skip_agents,
            extra_steps=WRAP_UP if self.wrap_up else (),
        )
        with self.lock:
            self.stats.arrived(scenario)
        return run

    def _gap(self, run: ScriptRun, outcome: StepOutcome) -> float:
        gap = outcome.wait_s + self.rng.uniform(*STEP_GAP_S)
        if not run.done and run.steps[run.position].index < 0 and outcome.step.index >= 0:
            gap += self.rng.uniform(*WRAP_UP_DELAY_S)
        return gap

    def run(
        self,
        timer: Timer,
        *,
        on_progress: Callable[[SimulationStats], None] | None = None,
    ) -> SimulationStats:
        interval = 60.0 / self.rate_per_min
        order = itertools.count()
        # (due, order, kind, payload), earliest first
        queue: list[tuple[float, int, int, Any]] = [
            (self.rng.uniform(0, min(interval, 1.0)), next(order), _ARRIVAL, 0),
            (TICK_EVERY_S, next(order), _TICK, None),
        ]
        pending = 0
        while queue:
            due, _, kind, payload = heapq.heappop(queue)
            if self.duration_s is not None and due > self.duration_s:
                if not self.drain:
                    break
                if kind == _ARRIVAL or (kind == _TICK and not pending):
                    continue
            if not timer.wait_until(due):
                break
            self.stats.schedule_s = due
            if kind == _TICK:
                self.client.tick()
                heapq.heappush(queue, (due + TICK_EVERY_S, next(order), _TICK, None))
                continue
            if kind == _ARRIVAL:
                run = self._arrive(payload)
                pending += 1
                following = due + interval * self.rng.uniform(0.5, 1.5)
                heapq.heappush(queue, (following, next(order), _ARRIVAL, payload + 1))
            else:
                run = payload
            outcome = run.step()
            with self.lock:
                self.stats.record(run, outcome)
            if run.done:
                pending -= 1
            else:
                heapq.heappush(queue, (due + self._gap(run, outcome), next(order), _STEP, run))
            if on_progress is not None:
                on_progress(self.stats)
        return self.stats


def script_length_s(scenario: Scenario, gap_s: float) -> float:
    """Schedule seconds `play_script` takes: every wait, and `gap_s` between two steps."""
    waits = sum(float(s.params["seconds"]) for s in scenario.steps if s.action == "wait")
    return waits + gap_s * (len(scenario.steps) - 1)


def play_script(
    desk: Engine | WidgetClient,
    scenario: Scenario,
    timer: Timer,
    *,
    gap_s: float = 2.0,
    on_step: Callable[[StepOutcome], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> tuple[ScriptRun, SimulationStats]:
    """Run one script to completion as written (its own people and topic), as a story of its
    own: chats an earlier run left open for its people are closed first (`on_note` hears of
    each), and the customer leaves at the end, so the next run starts apart from this one.
    """
    client = as_widget_client(desk)
    run = ScriptRun(client, scenario)
    for note in run.close_leftovers():
        if on_note is not None:
            on_note(note)
    stats = SimulationStats()
    stats.arrived(scenario)
    offset = 0.0
    while not run.done:
        if not timer.wait_until(offset):
            break
        outcome = run.step()
        stats.record(run, outcome)
        stats.schedule_s = offset
        if on_step is not None:
            on_step(outcome)
        offset += outcome.wait_s + gap_s
        client.tick()
    run.leave()
    return run, stats
