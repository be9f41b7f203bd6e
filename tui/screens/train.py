"""Trainer mode: pick an authentication order, then step through it with both sides on screen.

Left: what the customer sees in the widget (first message with the login link, the onboarding
form, the greeting by first name, the chat). Right: what the agent sees (identity banner,
timeline with trusted glyphs). Below: one line on what just changed and what the agent should
do; at the end, how many messages were trusted and which agent got each chat.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from sim.rehearsal import Frame, Rehearsal
from sim.scenarios import Scenario
from tui.bindings import ORDER_PICKER, TRAIN_SCREEN, bindings_for
from tui.text import clean_line
from tui.widgets.banner import IdentityBanner
from tui.widgets.timeline import TimelineView

if TYPE_CHECKING:
    from core.models import TimelineItem

_IDENTITY_WORDS = {
    "ANONYMOUS": "Not logged in",
    "CLAIMED": "Identified as {name} (not verified)",
    "TRUSTED": "Logged in as {name}",
}


def _url_styled(text: str, base: str = "") -> Text:
    """Plain text with its http(s) links underlined (styles by position, never markup)."""
    out = Text(text, style=base, end="")
    start = 0
    while (found := text.find("http", start)) != -1:
        end = found
        while end < len(text) and not text[end].isspace():
            end += 1
        out.stylize("underline bold", found, end)
        start = end
    return out


def widget_text(frame: Frame) -> Text:
    """The customer's widget as text: everything customer-written goes through clean_line."""
    text = Text(end="")
    if frame.first_message is None:
        text.append("The chat widget is closed.", "dim italic")
        return text
    if not frame.widget_open:
        text.append("The customer closed the widget.\n\n", "dim italic")
    text.append("Retalé ", "bold")
    text.append_text(_url_styled(clean_line(frame.first_message)))
    text.append("\n\n")
    if frame.onboarding_form:
        text.append("┌ Before we start ─────────────┐\n", "dim")
        text.append("│ Name   [                    ] │\n", "dim")
        text.append("│ Email  [                    ] │\n", "dim")
        text.append("│              [ Start chat ]  │\n", "dim")
        text.append("└──────────────────────────────┘\n\n", "dim")
    elif frame.form_filled is not None:
        text.append("Form sent: ", "dim")
        text.append(clean_line(frame.form_filled.name, limit=100))
        text.append(f" · {clean_line(frame.form_filled.contact, limit=100)}\n\n", "dim")
    if frame.greeting:
        text.append("Retalé ", "bold")
        text.append(clean_line(frame.greeting))
        text.append("\n\n")
    for item in frame.widget_messages:
        text.append_text(_bubble(item))
    words = _IDENTITY_WORDS.get(frame.identity_state, frame.identity_state)
    text.append("\n" + words.format(name=clean_line(frame.identity_name or "", limit=100)), "dim")
    return text


def _bubble(item: TimelineItem) -> Text:
    who = {"customer": "You", "agent": clean_line(item.agent or "Agent", limit=40), "bot": "Bot"}
    line = Text(end="")
    line.append(f"{who.get(item.sender, item.sender)}: ", "bold")
    line.append_text(_url_styled(clean_line(item.body)))
    line.append("\n\n")
    return line


def narration_text(frame: Frame) -> Text:
    """One line: what just changed, then what the agent should do; the summary at the end."""
    text = Text(end="")
    text.append(f" {frame.position}/{frame.total} ", "reverse bold")
    text.append(" ")
    text.append(clean_line(frame.narration, limit=300))
    if frame.hint:
        text.append("  Agent: ", "bold")
        text.append(clean_line(frame.hint, limit=300))
    if frame.done and frame.summary:
        text.append("\n")
        text.append(" Summary ", "reverse bold")
        for chat in frame.summary:
            text.append(f"\n • {clean_line(chat.line(), limit=300)}")
    return text


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
            label = Text(end="")
            label.append(f"{scenario.order}. {clean_line(scenario.title, limit=120)}\n", "bold")
            label.append(f"   {clean_line(scenario.summary, limit=300)}", "dim")
            options.append(Option(label, id=scenario.name))
        yield OptionList(*options, id="orders")
        yield Footer()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(event.option.id)


class TrainScreen(Screen[None]):
    """One order, step by step: next / back / restart."""

    BINDINGS = bindings_for(TRAIN_SCREEN)

    DEFAULT_CSS = """
    TrainScreen #train-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    TrainScreen #sides { height: 1fr; }
    TrainScreen #customer-side {
        width: 2fr; border: round $secondary; border-title-color: $secondary; padding: 0 1;
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

    def __init__(self, make_rehearsal: Callable[[], Rehearsal], scenario: Scenario) -> None:
        super().__init__()
        self.scenario = scenario
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
            customer = VerticalScroll(id="customer-side")
            customer.border_title = "What the customer sees"
            with customer:
                yield Static(id="widget-view")
            agent = Vertical(id="agent-side")
            agent.border_title = "What the agent sees"
            with agent:
                yield IdentityBanner("", id="train-banner")
                yield TimelineView(id="train-timeline")
                yield Static(id="agent-notes")
        yield Static(id="narration")
        yield Footer()

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
        self.query_one("#widget-view", Static).update(widget_text(frame))
        banner = self.query_one("#train-banner", IdentityBanner)
        timeline = self.query_one("#train-timeline", TimelineView)
        if frame.conversation is not None:
            banner.show(frame.conversation)
            timeline.customer = frame.conversation.profile.name
            timeline.set_items(frame.conversation.status, frame.timeline, has_older=False)
        else:
            banner.update(Text(" No conversation yet", style="dim", end=""))
            timeline.set_items("OPEN", (), has_older=False)
        self.query_one("#agent-notes", Static).update(agent_notes(frame))
        self.query_one("#narration", Static).update(narration_text(frame))

    def action_next(self) -> None:
        if self.frame is not None and not self.frame.done:
            self._step("next")

    def action_back(self) -> None:
        if self.frame is not None and self.frame.position > 0:
            self._step("back")

    def action_restart(self) -> None:
        self._step("restart")

    def action_orders(self) -> None:
        self.dismiss(None)
