"""Trainer mode: pick an authentication order, then step through it with both sides on screen.

Left: what the customer sees in the widget, in the real widget's words and layout
(`tui.widgets.chat_widget`), with the widget session's identity under it. Right: what the
agent sees (identity banner, timeline with trusted glyphs). Below: what just changed and what
the agent should do; at the end, how many messages were trusted, which agent got each chat,
and `n` to go on to the next order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from sim.rehearsal import Frame, Rehearsal
from sim.scenarios import Scenario
from tui.bindings import ORDER_PICKER, TRAIN_SCREEN, bindings_for
from tui.text import clean_line
from tui.widgets.banner import IdentityBanner
from tui.widgets.chat_widget import chat_log, footer, header
from tui.widgets.footer import KeyFooter
from tui.widgets.timeline import TimelineView

#: The widget session's identity, under the customer's pane: what the widget itself never
#: says, for the trainer to point at.
_SESSION_WORDS = {
    ("CLAIMED", "onboarding_form"): "claimed (form)",
    ("CLAIMED", "set_user"): "claimed (setUser)",
    ("TRUSTED", "jwt"): "verified (token)",
    ("CLAIMED", "jwt"): "trust expired",
}


def session_words(frame: Frame) -> str:
    """The widget session's identity in a few words (the customer pane's subtitle)."""
    words = _SESSION_WORDS.get((frame.identity_state, frame.identity_source))
    if frame.identity_state == "ANONYMOUS" or words is None:
        return "session: not identified"
    return f"{clean_line(frame.identity_name or '', limit=40)} · {words}"


def _hanging(head: Text, body: Text) -> Table:
    """`head` then `body`, the body's wrapped lines indented under its first."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_row(head, body)
    return grid


def narration(frame: Frame, next_order: Scenario | None = None) -> Group:
    """What just changed and what the agent should do; at the end, the summary and what `n`
    does next."""
    body = Text(clean_line(frame.narration, limit=300), end="")
    if frame.hint:
        body.append("  Agent: ", "bold")
        body.append(clean_line(frame.hint, limit=300))
    parts: list[Table | Text] = [
        _hanging(Text(f" {frame.position}/{frame.total} ", "reverse bold"), body)
    ]
    if frame.done:
        for chat in frame.summary:
            parts.append(_hanging(Text(" •"), Text(clean_line(chat.line(), limit=300))))
        if next_order is not None:
            title = clean_line(next_order.title, limit=120)
            then = Text.assemble(("n", "bold"), f" next order: {next_order.order}. {title}")
        else:
            then = Text.assemble(("n", "bold"), " back to the orders")
        parts.append(_hanging(Text(" Done ", "reverse bold"), then))
    return Group(*parts)


def agent_notes(frame: Frame) -> Text:
    text = Text(end="")
    if frame.conversation is None:
        text.append("No conversation yet: nothing is routed until the customer writes.", "dim")
        return text
    text.append(f"Past conversations of this customer: {frame.past_conversations}", "dim")
    for chat in frame.other_chats:
        text.append(f"\nEarlier on this browser: {clean_line(chat.line(), limit=300)}", "dim")
    return text


class OrderPicker(Screen[str]):
    """The five orders, from most ideal to most undesired; dismisses with the chosen name."""

    BINDINGS = bindings_for(ORDER_PICKER)

    DEFAULT_CSS = """
    OrderPicker #picker-title { height: 3; padding: 1 2 0 2; text-style: bold; }
    OrderPicker OptionList { height: 1fr; margin: 0 2; }
    """

    def __init__(self, scenarios: list[Scenario]) -> None:
        super().__init__()
        self.scenarios = scenarios

    def compose(self) -> ComposeResult:
        yield Static("Trainer: pick an authentication order", id="picker-title")
        options = []
        for scenario in self.scenarios:
            label = _hanging(
                Text(f"{scenario.order}.", "bold"),
                Text.assemble(
                    (clean_line(scenario.title, limit=120), "bold"),
                    "\n",
                    (clean_line(scenario.summary, limit=300), "dim"),
                ),
            )
            options.append(Option(label, id=scenario.name))
        yield OptionList(*options, id="orders")
        yield KeyFooter()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(event.option.id)


class TrainScreen(Screen[str | None]):
    """One order, step by step: next / back / restart. Dismisses with "next" when `n` is
    pressed at the end (go on to `next_order`), None to pick another order."""

    BINDINGS = bindings_for(TRAIN_SCREEN)

    DEFAULT_CSS = """
    TrainScreen #train-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    TrainScreen #sides { height: 1fr; }
    TrainScreen #customer-side {
        width: 2fr; border: round $secondary; border-title-color: $secondary;
        border-subtitle-color: $text-muted;
    }
    TrainScreen #widget-head { height: 1; padding: 0 1; background: $secondary 25%; }
    TrainScreen #widget-log { height: 1fr; padding: 0 1; scrollbar-size-vertical: 1; }
    TrainScreen #widget-foot {
        height: auto; padding: 0 1; border-top: solid $secondary 50%;
    }
    TrainScreen #agent-side { width: 3fr; border: round $accent; border-title-color: $accent; }
    TrainScreen #train-timeline { height: 1fr; }
    TrainScreen #agent-notes { height: auto; padding: 0 1; }
    TrainScreen #narration { height: auto; max-height: 8; padding: 0 1; background: $boost; }
    """

    @dataclass
    class FrameReady(Message):
        """A rehearsal step finished; the frame to show."""

        frame: Frame

    def __init__(
        self,
        make_rehearsal: Callable[[], Rehearsal],
        scenario: Scenario,
        *,
        next_order: Scenario | None = None,
    ) -> None:
        super().__init__()
        self.scenario = scenario
        self.next_order = next_order
        self._make_rehearsal = make_rehearsal
        self._rehearsal: Rehearsal | None = None
        self._lock = threading.Lock()
        self.frame: Frame | None = None

    def compose(self) -> ComposeResult:
        number = f"Order {self.scenario.order} of 5 · " if self.scenario.order else ""
        yield Static(
            Text(number + clean_line(self.scenario.title, limit=200), end=""), id="train-title"
        )
        with Horizontal(id="sides"):
            customer = Vertical(id="customer-side")
            customer.border_title = "What the customer sees"
            with customer:
                yield Static(id="widget-head")
                with VerticalScroll(id="widget-log"):
                    yield Static(id="widget-messages")
                yield Static(id="widget-foot")
            agent = Vertical(id="agent-side")
            agent.border_title = "What the agent sees"
            with agent:
                yield IdentityBanner("", id="train-banner")
                yield TimelineView(id="train-timeline")
                yield Static(id="agent-notes")
        yield Static(id="narration")
        yield KeyFooter()

    def on_mount(self) -> None:
        # The console's stylesheet caps the banner at 4 lines; the trainer has room for all.
        self.query_one("#train-banner", IdentityBanner).styles.max_height = 6
        self._step("restart")

    def on_unmount(self) -> None:
        with self._lock:
            if self._rehearsal is not None:
                self._rehearsal.close()

    @work(thread=True, exclusive=True, exit_on_error=False, group="rehearsal")
    def _step(self, action: str) -> None:
        with self._lock:
            if self._rehearsal is None:
                self._rehearsal = self._make_rehearsal()
                frame = self._rehearsal.frame()
            elif action == "next":
                frame = self._rehearsal.forward()
            elif action == "back":
                frame = self._rehearsal.back()
            else:
                frame = self._rehearsal.restart()
        self.post_message(self.FrameReady(frame))

    @on(FrameReady)
    def _show(self, message: FrameReady) -> None:
        frame = self.frame = message.frame
        self._show_customer(frame)
        banner = self.query_one("#train-banner", IdentityBanner)
        timeline = self.query_one("#train-timeline", TimelineView)
        if frame.conversation is not None:
            banner.show(frame.conversation)
            timeline.customer = frame.conversation.profile.name
            timeline.set_items(frame.conversation.status, frame.timeline, has_older=False)
        else:
            banner.show(None)
            timeline.set_items("OPEN", (), has_older=False)
        self.query_one("#agent-notes", Static).update(agent_notes(frame))
        self.query_one("#narration", Static).update(narration(frame, self.next_order))

    def _show_customer(self, frame: Frame) -> None:
        """The widget as the customer sees it, scrolled to the newest message."""
        self.query_one("#customer-side").border_subtitle = session_words(frame)
        head = self.query_one("#widget-head", Static)
        head.display = frame.widget_open
        head.update(header(frame))
        self.query_one("#widget-messages", Static).update(chat_log(frame))
        foot = self.query_one("#widget-foot", Static)
        parts = footer(frame)
        foot.display = bool(parts)
        foot.update(Group(*parts))
        log = self.query_one("#widget-log", VerticalScroll)
        self.call_after_refresh(log.scroll_end, animate=False)

    def action_next(self) -> None:
        if self.frame is None:
            return
        if self.frame.done:
            self.dismiss("next")
        else:
            self._step("next")

    def action_back(self) -> None:
        if self.frame is not None and self.frame.position > 0:
            self._step("back")

    def action_restart(self) -> None:
        self._step("restart")

    def action_orders(self) -> None:
        self.dismiss(None)
