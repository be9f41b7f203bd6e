"""The simulated customer feed: scenario scripts played by many customers over time.

Deterministic for a seed: one seeded `random.Random` decides arrivals, scripts, who plays
whom and what they say, and events run in schedule order on one thread. Time is either
virtual (a `ManualClock` jumped to each event: `--rate 600 --duration 60` finishes in
seconds and two runs give the same export) or real (the system clock, sleeping until each
event is due: what a person watching the demo console sees).

`FeedController` runs a real-time feed in its own thread, with its own `Desk` and `Engine`
on the same database file, for the agent console (`start`, `stop`, `toggle_pause`,
`status_line`).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.clock import Clock, ManualClock, SystemClock
from core.contacts import normalize_email
from core.engine import Engine
from core.errors import DeskError
from core.models import ConversationView, TimelineItem
from core.store import Desk
from sim.demo_desk import FIXTURES
from sim.scenarios import (
    SCENARIOS_DIR,
    WRAP_UP,
    Cast,
    Person,
    Scenario,
    ScriptRun,
    StepOutcome,
    Topic,
    WidgetClient,
    load_scenarios,
)

log = logging.getLogger(__name__)

#: The demo's pace: customers per minute a person watching the console can follow.
DEMO_RATE = 8.0
#: Schedule seconds between the timers the desk runs (trust lapses, login holds).
TICK_EVERY_S = 5.0
#: Seconds a simulated customer takes between two steps (reading, typing).
STEP_GAP_S = (1.5, 6.0)
#: Seconds before a simulated agent answers and closes a chat whose script has ended.
WRAP_UP_DELAY_S = (10.0, 60.0)
MAX_RATE = 100_000.0


# -- who plays the scripts ------------------------------------------------------------------


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


class Casting:
    """Realistic people and topics from the fixtures: customers.json, conversations.json."""

    def __init__(self, fixtures: Path = FIXTURES) -> None:
        customers = json.loads((fixtures / "customers.json").read_text(encoding="utf-8"))
        conversations = json.loads((fixtures / "conversations.json").read_text(encoding="utf-8"))
        with_history = {c["customer"] for c in conversations}
        busy = {c["customer"] for c in conversations if c["status"] != "CLOSED"}
        returning = [c for c in customers if c["id"] in with_history and c["id"] not in busy]
        self.by_email = [
            Person(c["name"], email=normalize_email(c["emails"][0]))
            for c in returning
            if c["emails"]
        ]
        self.by_phone = [Person(c["name"], phone=c["phones"][0]) for c in returning if c["phones"]]
        self.first_names = sorted({c["name"].split()[0] for c in customers})
        self.last_names = sorted({c["name"].split()[-1] for c in customers})
        topics = []
        for conversation in conversations:
            messages = [i for i in conversation["items"] if i["type"] == "message"]
            customer = [m["body"] for m in messages if m["sender"] == "customer"]
            agent = [m["body"] for m in messages if m["sender"] == "agent"]
            if len(customer) >= 2 and agent:
                topics.append(Topic(customer[0], agent[0], customer[1]))
        self.topics = sorted(set(topics), key=lambda t: (t.question, t.answer, t.thanks))
        self._new = itertools.count(1)

    def cast(self, scenario: Scenario, rng: random.Random) -> Cast:
        """Replace each person of the script by a different fixture customer or a new one."""
        used: set[str] = set()
        people = {}
        for key, person in scenario.people.items():
            people[key] = self._person(person, rng, used)
            used.add(people[key].contact)
        return Cast(people, rng.choice(self.topics) if self.topics else scenario.topic)

    def _person(self, person: Person, rng: random.Random, used: set[str]) -> Person:
        pool = self.by_phone if person.phone else self.by_email
        returning = person.cast == "returning" or (person.cast == "any" and rng.random() < 0.6)
        if returning and pool:
            for _ in range(8):
                chosen = rng.choice(pool)
                if chosen.contact not in used:
                    return chosen
        number = next(self._new)
        first, last = rng.choice(self.first_names), rng.choice(self.last_names)
        if person.phone:
            return Person(f"{first} {last}", phone=f"+1415555{number % 10_000:04d}", cast="new")
        email = f"{_ascii(first)}.{_ascii(last)}.{number}@feed.example.net"
        return Person(f"{first} {last}", email=email, cast="new")


# -- time -----------------------------------------------------------------------------------


class Timer(Protocol):
    """Maps schedule seconds (0 = the feed's start) to time passing for the desk."""

    def wait_until(self, offset_s: float) -> bool:
        """Return when `offset_s` is due; False when the feed was stopped meanwhile."""
        ...


class VirtualTimer:
    """Virtual time: jumps a ManualClock to each event; never sleeps."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.start_ms = clock.now_ms()

    def wait_until(self, offset_s: float) -> bool:
        self.clock.set(max(self.clock.now_ms(), self.start_ms + round(offset_s * 1000)))
        return True


class RealTimer:
    """Real time: sleeps until each event is due. Can be paused, resumed and stopped.

    `speed` plays the schedule faster than life (2.0: a 10-second wait takes 5).
    """

    def __init__(self, speed: float = 1.0) -> None:
        if not 0.01 <= speed <= 1000:
            raise DeskError("speed: expected 0.01 to 1000")
        self.speed = speed
        self._stopped = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._base = time.monotonic()
        self._paused_at: float | None = None
        #: How late (wall seconds) the most overdue event ran: the feed falling behind.
        self.max_lag_s = 0.0

    def wait_until(self, offset_s: float) -> bool:
        while not self._stopped.is_set():
            if not self._running.is_set():
                self._running.wait(0.2)
                continue
            remaining = self._base + offset_s / self.speed - time.monotonic()
            if remaining <= 0:
                self.max_lag_s = max(self.max_lag_s, -remaining)
                return True
            self._stopped.wait(min(remaining, 0.2))
        return False

    def elapsed(self) -> float:
        return ((self._paused_at or time.monotonic()) - self._base) * self.speed

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        if self._running.is_set():
            self._paused_at = time.monotonic()
            self._running.clear()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._base += time.monotonic() - self._paused_at
            self._paused_at = None
        self._running.set()

    def stop(self) -> None:
        self._stopped.set()
        self._running.set()


# -- the feed ---------------------------------------------------------------------------------


@dataclass(slots=True)
class FeedStats:
    """What a feed did so far; the CLI and the console footer print it."""

    customers: int = 0
    finished: int = 0
    steps: int = 0
    messages: int = 0
    trusted: int = 0
    logins: int = 0
    rejected: int = 0
    agent_steps: int = 0
    skipped: int = 0
    errors: int = 0
    conversations: int = 0
    schedule_s: float = 0.0
    last: str = ""
    by_scenario: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    @property
    def in_flight(self) -> int:
        return self.customers - self.finished

    def record(self, run: ScriptRun, outcome: StepOutcome) -> None:
        self.steps += 1
        action = outcome.step.action
        if outcome.error:
            self.errors += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{run.scenario.name}: {outcome.error}")
        elif action == "say":
            self.messages += 1
            self.trusted += bool(outcome.trusted)
        elif action == "login":
            self.logins += 1
        elif action in ("reply", "login_prompt", "close"):
            self.agent_steps += not outcome.skipped
        self.rejected += outcome.rejected is not None and action == "bad_token"
        self.skipped += outcome.skipped
        if outcome.mismatch:
            self.mismatches.append(f"{run.scenario.name}: {outcome.mismatch}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "finished": self.finished,
            "in_flight": self.in_flight,
            "steps": self.steps,
            "messages": self.messages,
            "trusted_messages": self.trusted,
            "logins": self.logins,
            "rejected_tokens": self.rejected,
            "agent_steps": self.agent_steps,
            "skipped_agent_steps": self.skipped,
            "conversations": self.conversations,
            "errors": self.errors,
            "error_samples": list(self.error_samples),
            "mismatches": list(self.mismatches),
            "by_scenario": dict(sorted(self.by_scenario.items())),
            "schedule_s": round(self.schedule_s, 3),
        }

    def summary_lines(self) -> list[str]:
        lines = [
            f"customers: {self.customers} ({self.finished} finished, {self.in_flight} stopped mid-script)",
            f"messages: {self.messages} ({self.trusted} trusted) in {self.conversations}"
            f" conversations; logins: {self.logins}; rejected tokens: {self.rejected}",
            f"agent steps: {self.agent_steps} (skipped {self.skipped}: no agent free, left to a"
            " person, or over HTTP)",
            "scripts: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_scenario.items())),
        ]
        if self.errors:
            lines.append(f"errors: {self.errors}; first: {self.error_samples[0]}")
        if self.mismatches:
            lines.append(
                f"failed expectations: {len(self.mismatches)}; first: {self.mismatches[0]}"
            )
        return lines


def check_rate(rate_per_min: object) -> float:
    if isinstance(rate_per_min, bool) or not isinstance(rate_per_min, int | float):
        raise DeskError("rate: expected a number of customers per minute")
    if not 0 < rate_per_min <= MAX_RATE:
        raise DeskError(f"rate: expected more than 0 and at most {MAX_RATE:g} customers per minute")
    return float(rate_per_min)


class Feed:
    """A random mix of scripts: customers arrive at `rate_per_min` for `duration_s`.

    `engine` is the desk in this process, or a `WidgetClient` for a server (customers only).

    No customer arrives after `duration_s`. With `drain`, those already there play their
    scripts to the end (cheap in virtual time); without, steps due after `duration_s` are not
    run and those customers count as cut off. With `duration_s=None` it runs until the timer
    stops it.
    """

    def __init__(
        self,
        engine: Engine | WidgetClient,
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
        self.engine = engine
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
        self.stats = FeedStats()
        self._seen_conversations: set[int] = set()
        self._lock = threading.Lock()

    def _gap(self, run: ScriptRun, outcome: StepOutcome) -> float:
        gap = outcome.wait_s + self.rng.uniform(*STEP_GAP_S)
        if not run.done and run.steps[run.position].index < 0 and outcome.step.index >= 0:
            gap += self.rng.uniform(*WRAP_UP_DELAY_S)
        return gap

    def run(
        self,
        timer: Timer,
        *,
        on_progress: Callable[[FeedStats], None] | None = None,
    ) -> FeedStats:
        interval = 60.0 / self.rate_per_min
        order = itertools.count()
        # (due, order, kind, payload): kind 0 = arrival number, 1 = a run's next step, 2 = tick
        queue: list[tuple[float, int, int, Any]] = [
            (self.rng.uniform(0, min(interval, 1.0)), next(order), 0, 0),
            (TICK_EVERY_S, next(order), 2, None),
        ]
        pending = 0
        while queue:
            due, _, kind, payload = heapq.heappop(queue)
            if self.duration_s is not None and due > self.duration_s:
                if not self.drain:
                    break
                if kind == 0 or (kind == 2 and not pending):
                    continue
            if not timer.wait_until(due):
                break
            self.stats.schedule_s = due
            if kind == 2:
                self.engine.tick()
                heapq.heappush(queue, (due + TICK_EVERY_S, next(order), 2, None))
                continue
            if kind == 0:
                if payload < len(self.opening):
                    scenario = self.opening[payload]
                else:
                    scenario = self.rng.choices(self.scenarios, self.weights)[0]
                run = ScriptRun(
                    self.engine,
                    scenario,
                    self.casting.cast(scenario, self.rng),
                    skip_agents=self.skip_agents,
                    extra_steps=WRAP_UP if self.wrap_up else (),
                )
                pending += 1
                with self._lock:
                    self.stats.customers += 1
                    self.stats.by_scenario[scenario.name] += 1
                following = due + interval * self.rng.uniform(0.5, 1.5)
                heapq.heappush(queue, (following, next(order), 0, payload + 1))
            else:
                run = payload
            outcome = run.step()
            with self._lock:
                self.stats.record(run, outcome)
                self.stats.last = f"{run.scenario.name}: {outcome.summary}"
                fresh = set(run.conversations) - self._seen_conversations
                self._seen_conversations |= fresh
                self.stats.conversations += len(fresh)
                if run.done:
                    self.stats.finished += 1
            if run.done:
                pending -= 1
            else:
                heapq.heappush(queue, (due + self._gap(run, outcome), next(order), 1, run))
            if on_progress is not None:
                on_progress(self.stats)
        return self.stats


def play(
    engine: Engine | WidgetClient,
    scenario: Scenario,
    timer: Timer,
    *,
    gap_s: float = 2.0,
    on_step: Callable[[StepOutcome], None] | None = None,
) -> tuple[ScriptRun, FeedStats]:
    """Run one script to completion as written (its own people and topic)."""
    run = ScriptRun(engine, scenario)
    stats = FeedStats(customers=1)
    stats.by_scenario[scenario.name] += 1
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
        engine.tick()
    stats.finished = int(run.done)
    stats.conversations = len(run.conversations)
    return run, stats


def virtual_start_clock() -> ManualClock:
    """A virtual clock starting now (whole seconds), so feed data sorts after existing data."""
    return ManualClock(SystemClock().now_ms() // 1000 * 1000)


# -- the console's feed -------------------------------------------------------------------------


class FeedController:
    """A real-time feed in a background thread for the agent console.

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
        self.db_path = Path(db_path)
        self.clock = clock
        self.rate_per_min = check_rate(rate_per_min)
        self.duration_s = duration_s
        self.seed = seed if seed is not None else random.SystemRandom().randrange(1 << 30)
        self.skip_agents = frozenset(skip_agents)
        self.scenarios = list(load_scenarios(scenarios_dir).values())
        self.timer = RealTimer(speed)
        self.opening = tuple(opening)
        self.error: str | None = None
        self._feed: Feed | None = None
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
                self._feed = Feed(
                    Engine.for_desk(desk),
                    rate_per_min=self.rate_per_min,
                    duration_s=self.duration_s,
                    seed=self.seed,
                    scenarios=self.scenarios,
                    skip_agents=self.skip_agents,
                    opening=self.opening,
                )
                self._feed.run(self.timer)
        except DeskError as exc:
            self.error = str(exc)
        except Exception as exc:  # the console must keep running; the footer says why
            log.exception("the feed stopped")
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._done.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the feed and wait for its thread (the step in progress completes)."""
        self.timer.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the feed to end by itself (a `duration_s` feed); True when it has."""
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
    def stats(self) -> FeedStats:
        feed = self._feed
        if feed is None:
            return FeedStats()
        with feed._lock:
            copy = FeedStats(**{name: getattr(feed.stats, name) for name in FeedStats.__slots__})
            copy.by_scenario = Counter(feed.stats.by_scenario)
            copy.mismatches = list(feed.stats.mismatches)
            copy.error_samples = list(feed.stats.error_samples)
            return copy

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


# -- the trainer's walkthrough ----------------------------------------------------------------

#: Files a desk keeps beside its database: the keystore and the rules.
SIDECARS = (".keys", ".rules.toml")
#: Seconds the trainer's clock moves between two steps (so timeline times read naturally).
REHEARSAL_STEP_S = 15.0


@dataclass(frozen=True, slots=True)
class ChatSummary:
    """How one conversation of a walkthrough ended: trust and who got it."""

    conversation_id: int
    customer: str
    trusted: int
    customer_messages: int
    assignee: str | None
    assignee_name: str | None

    def line(self) -> str:
        agent = f"{self.assignee_name} ({self.assignee})" if self.assignee else "nobody yet"
        return (
            f"#{self.conversation_id} {self.customer}: {self.trusted} of"
            f" {self.customer_messages} messages trusted · chat went to {agent}"
        )


@dataclass(frozen=True, slots=True)
class Frame:
    """Everything the trainer shows after some steps: the widget side and the agent side."""

    scenario: Scenario
    position: int  # steps shown so far (waits are folded into the step after them)
    total: int
    outcome: StepOutcome | None
    # what the customer sees in the widget
    widget_open: bool
    first_message: str | None
    onboarding_form: bool  # the form is on screen (onboarding required, not identified)
    form_filled: Person | None  # what the customer typed into the form, once submitted
    greeting: str | None
    identity_state: str
    identity_name: str | None
    widget_messages: tuple[TimelineItem, ...]
    # what the agent sees
    conversation: ConversationView | None
    timeline: tuple[TimelineItem, ...]
    past_conversations: int
    other_chats: tuple[ChatSummary, ...]  # earlier chats of this browser (another person)
    summary: tuple[ChatSummary, ...]  # at the end: every chat the walkthrough made

    @property
    def done(self) -> bool:
        return self.position >= self.total

    @property
    def narration(self) -> str:
        if self.outcome is None:
            return self.scenario.summary or self.scenario.title
        return self.outcome.step.narrate or self.outcome.summary

    @property
    def hint(self) -> str | None:
        return self.outcome.step.hint if self.outcome is not None else None


class Rehearsal:
    """One script stepped forward and back on a throwaway copy of a desk (the trainer).

    Back and restart replay from a fresh copy: the desk only moves forward (timeline items
    are immutable), and a replay on a frozen clock gives the same desk every time.
    """

    def __init__(self, base_db: Path, workdir: Path, scenario: Scenario, *, start_ms: int) -> None:
        self.base_db = Path(base_db)
        self.workdir = Path(workdir)
        self.scenario = scenario
        self.start_ms = start_ms
        self.total = sum(1 for step in scenario.steps if step.action != "wait")
        self.position = 0
        self._desk: Desk | None = None
        self._generation = 0
        self.run: ScriptRun
        self.clock: ManualClock
        self.engine: Engine
        self.restart()

    def _fresh_copy(self) -> Path:
        import shutil

        self._generation += 1
        target = self.workdir / f"rehearsal-{self._generation}.db"
        shutil.copyfile(self.base_db, target)
        for suffix in SIDECARS:
            beside = Path(f"{self.base_db}{suffix}")
            if beside.is_file():
                shutil.copyfile(beside, f"{target}{suffix}")
        return target

    def close(self) -> None:
        if self._desk is not None:
            path = self._desk.path
            self._desk.close()
            self._desk = None
            for suffix in ("", "-wal", "-shm", *SIDECARS):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    def restart(self) -> Frame:
        self.close()
        self.clock = ManualClock(self.start_ms)
        self._desk = Desk.open(self._fresh_copy(), clock=self.clock, create=False)
        self.engine = Engine.for_desk(self._desk)
        self.run = ScriptRun(self.engine, self.scenario)
        self.position = 0
        self._last: StepOutcome | None = None
        return self.frame()

    def forward(self) -> Frame:
        """Run the next step (and any waits before it)."""
        while not self.run.done:
            outcome = self.run.step()
            self.clock.advance(outcome.wait_s or REHEARSAL_STEP_S)
            if outcome.step.action != "wait":
                self.position += 1
                self._last = outcome
                break
        return self.frame()

    def back(self) -> Frame:
        target = max(0, self.position - 1)
        self.restart()
        while self.position < target:
            self.forward()
        return self.frame()

    def frame(self) -> Frame:
        run = self.run
        engine = self.engine
        session = engine.session(run.session_id) if run.session_id else None
        conversation_id = run.conversation_id
        conversation = engine.conversation(conversation_id) if conversation_id else None
        timeline = tuple(engine.timeline(conversation_id)) if conversation_id else ()
        past = (
            len(engine.past_conversations(conversation.profile.id, exclude=conversation.id))
            if conversation
            else 0
        )
        chats = tuple(self._chat(c) for c in run.conversations)
        form_filled = next(
            (
                run.cast.people[o.step.params["as"]]
                for o in reversed(run.outcomes)
                if o.step.action == "onboarding" and not o.error
            ),
            None,
        )
        return Frame(
            scenario=self.scenario,
            position=self.position,
            total=self.total,
            outcome=self._last,
            widget_open=session is not None and not session.ended,
            first_message=run.first_message,
            onboarding_form=bool(session and session.onboarding_required),
            form_filled=form_filled if session and session.identity_source != "none" else None,
            greeting=session.greeting if session else None,
            identity_state=session.identity_state if session else "ANONYMOUS",
            identity_name=session.name if session else None,
            widget_messages=tuple(engine.session_timeline(session.id))
            if session is not None and not session.ended
            else (),
            conversation=conversation,
            timeline=timeline,
            past_conversations=past,
            other_chats=tuple(c for c in chats if c.conversation_id != conversation_id),
            summary=chats if self.position >= self.total else (),
        )

    def _chat(self, conversation_id: int) -> ChatSummary:
        view = self.engine.conversation(conversation_id)
        messages = [
            item
            for item in self.engine.timeline(conversation_id)
            if item.type == "message" and item.sender == "customer"
        ]
        return ChatSummary(
            conversation_id=conversation_id,
            customer=view.profile.name,
            trusted=sum(1 for item in messages if item.trusted),
            customer_messages=len(messages),
            assignee=view.assignee,
            assignee_name=view.assignee_name,
        )
