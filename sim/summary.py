"""The summary of a run of simulated customers: what they did, counted step by step.

`gladdesk feed` prints it (as lines or JSON), and the demo console's footer shows it live.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from sim.scenarios import Scenario
from sim.script_run import ScriptRun, StepOutcome


@dataclass(slots=True)
class SimulationStats:
    """What simulated customers did so far; the CLI and the console footer print it."""

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
    schedule_s: float = 0.0
    last: str = ""
    by_scenario: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    conversation_ids: set[int] = field(default_factory=set, repr=False)

    @property
    def in_flight(self) -> int:
        return self.customers - self.finished

    @property
    def conversations(self) -> int:
        return len(self.conversation_ids)

    def arrived(self, scenario: Scenario) -> None:
        """A customer came to play `scenario`."""
        self.customers += 1
        self.by_scenario[scenario.name] += 1

    def record(self, run: ScriptRun, outcome: StepOutcome) -> None:
        """A step a customer took: what it did, the chats it made, whether the script ended."""
        self._count(run, outcome)
        self.last = f"{run.scenario.name}: {outcome.summary}"
        self.conversation_ids.update(run.conversations)
        if run.done:
            self.finished += 1

    def _count(self, run: ScriptRun, outcome: StepOutcome) -> None:
        self.steps += 1
        action = outcome.step.action
        if outcome.error:
            self.errors += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{run.scenario.name}: {outcome.error}")
        elif action == "say":
            self.messages += 1
            self.trusted += bool(outcome.trusted)
        elif action == "login" or (action == "open" and "login_as" in outcome.step.params):
            self.logins += 1
        elif action in ("reply", "login_prompt", "close"):
            self.agent_steps += not outcome.skipped
        self.rejected += outcome.rejected is not None and action == "bad_token"
        self.skipped += outcome.skipped
        if outcome.mismatch:
            self.mismatches.append(f"{run.scenario.name}: {outcome.mismatch}")

    def snapshot(self) -> SimulationStats:
        """A copy that later steps leave alone, for another thread to read."""
        return replace(
            self,
            by_scenario=Counter(self.by_scenario),
            mismatches=list(self.mismatches),
            error_samples=list(self.error_samples),
            conversation_ids=set(self.conversation_ids),
        )

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
