"""The trainer's walkthrough: one script stepped forward and back on a throwaway copy of a
desk (`Rehearsal`), and what the trainer shows after each step (`Frame`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.clock import ManualClock
from core.engine import Engine
from core.models import ConversationView, TimelineItem
from core.store import Desk
from core.store.directory import agents_available
from sim.demo_desk import SIDECARS
from sim.scenarios import Scenario
from sim.script_run import ScriptRun, StepOutcome

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
    onboarding_identity: str  # what the form asks for besides the name: email or phone
    greeting: str | None
    identity_state: str
    identity_source: str
    identity_name: str | None
    widget_messages: tuple[TimelineItem, ...]
    store_name: str
    agents_available: bool  # the widget's header: online, or away
    chat_closed: bool  # the customer's chat was closed (the widget adds a note)
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
        app = engine.app(session.app_id if session else engine.first_app_id())
        messages: tuple[TimelineItem, ...] = ()
        chat_closed = False
        if session is not None and not session.ended:
            messages = tuple(engine.session_timeline(session.id))
            if messages and session.conversation_id is not None:
                chat_closed = engine.conversation(session.conversation_id).status == "CLOSED"
        return Frame(
            scenario=self.scenario,
            position=self.position,
            total=self.total,
            outcome=self._last,
            widget_open=session is not None and not session.ended,
            first_message=run.first_message,
            onboarding_form=bool(session and session.onboarding_required),
            onboarding_identity=app["onboarding_identity"],
            greeting=session.greeting if session else None,
            identity_state=session.identity_state if session else "ANONYMOUS",
            identity_source=session.identity_source if session else "none",
            identity_name=session.name if session else None,
            widget_messages=messages,
            store_name=app["store_name"],
            agents_available=agents_available(self.engine.desk),
            chat_closed=chat_closed,
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
