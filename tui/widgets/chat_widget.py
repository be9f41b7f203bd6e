"""The customer's chat widget as the trainer draws it: the words and layout of the real one
(core/web/static/widget.js), from a rehearsal `Frame`.

Like the widget: a header with the store's name and whether agents are online; one welcome
bubble (the greeting once the customer is identified, else the first message with the login
link); the customer's messages on the right without a label, the store's bot and agents
(only ever "Agent", never a handle) on the left; then the onboarding form, or the composer.

Everything shown is cleaned (`tui.text`) and wrapped here: a link moves whole to the next
line, and only a link longer than a line is cut, after a `/`, `?`, `&` or the like.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from sim.rehearsal import Frame
from tui.text import clean_line, clean_lines, wrap

#: The real widget's words, one for one (a test finds each of them in widget.js).
WIDGET_WORDS = {
    "online": "We're online",
    "away": "Away \u2014 leave a message",
    "form_intro": "Tell us who you are to start chatting.",
    "name": "Your name",
    "email": "Email",
    "phone": "Phone (+14155550123)",
    "start": "Start chat",
    "compose": "Write a message\u2026",
    "send": "Send",
    "agent": "Agent",
    "closed_note": "This conversation was closed. Write again any time.",
    "launcher": "Chat with us",
}

_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")

LABEL_STYLE = "bold"
CUSTOMER_STYLE = "bold #5fafff"
LINK_STYLE = "underline"
DIM = "dim"


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A run of text wrapped as a block: to the left, or to the right (the customer)."""

    text: Text
    right: bool = False


class Paragraphs:
    """Paragraphs wrapped with `wrap` to the width they are given (a Rich renderable)."""

    def __init__(self, paragraphs: list[Paragraph]) -> None:
        self.paragraphs = paragraphs

    def lines(self, width: int) -> Iterator[Text]:
        for paragraph in self.paragraphs:
            for line in wrap(paragraph.text, width):
                if paragraph.right:
                    line.pad_left(max(0, width - line.cell_len))
                yield line

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(options.max_width):
            yield from line.render(console)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, options.max_width)


def _linked(text: str, style: str = "") -> Text:
    """Plain text with its links underlined (styles by position, never markup)."""
    out = Text(text, style=style, end="")
    for match in _URL.finditer(text):
        out.stylize(LINK_STYLE, match.start(), match.end())
    return out


def _bubble(label: str | None, body: str, *, customer: bool = False) -> list[Paragraph]:
    paragraphs = [Paragraph(Text(label, LABEL_STYLE))] if label else []
    for line in clean_lines(body):
        if customer:
            paragraphs.append(Paragraph(Text(line, CUSTOMER_STYLE), right=True))
        else:
            paragraphs.append(Paragraph(_linked(line)))
    return [*paragraphs, Paragraph(Text(""))]


def header(frame: Frame) -> Table:
    """The store's name, and on the right whether agents are online."""
    grid = Table.grid(expand=True)
    grid.add_column(no_wrap=True, overflow="ellipsis")
    grid.add_column(justify="right", no_wrap=True)
    if frame.agents_available:
        status = Text.assemble(("● ", "#22c55e"), WIDGET_WORDS["online"])
    else:
        status = Text.assemble(("● ", DIM), WIDGET_WORDS["away"])
    grid.add_row(Text(clean_line(frame.store_name, limit=60), LABEL_STYLE), status)
    return grid


def chat_log(frame: Frame) -> Paragraphs:
    """The welcome bubble and the messages, as the widget lists them."""
    if frame.first_message is None:  # not opened yet: `footer` shows the launcher
        return Paragraphs([])
    if not frame.widget_open:
        return Paragraphs([Paragraph(Text("The customer closed the widget.", "dim italic"))])
    store = clean_line(frame.store_name, limit=60)
    paragraphs = _bubble(store, frame.greeting or frame.first_message)
    for item in frame.widget_messages:
        if item.sender == "customer":
            paragraphs += _bubble(None, item.body, customer=True)
        else:
            paragraphs += _bubble(
                WIDGET_WORDS["agent"] if item.sender == "agent" else store, item.body
            )
    if frame.chat_closed:
        paragraphs.append(Paragraph(Text(WIDGET_WORDS["closed_note"], "dim italic")))
    return Paragraphs(paragraphs)


class InputBox:
    """`[ placeholder      ]` across the width given, with an optional button after it."""

    def __init__(self, placeholder: str, button: str | None = None) -> None:
        self.placeholder = placeholder
        self.button = button

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        button = f" [ {self.button} ]" if self.button else ""
        room = max(1, options.max_width - len(button) - 2)
        inner = self.placeholder if len(self.placeholder) <= room else self.placeholder[:room]
        line = Text.assemble(("[", DIM), (inner.ljust(room), "dim italic"), ("]", DIM))
        line.append(button, "bold")
        yield from line.render(console)
        yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, options.max_width)


def footer(frame: Frame) -> list[RenderableType]:
    """The onboarding form while one is needed, else the composer (renderables, top down)."""
    if frame.first_message is None:  # the site's page with the widget's launcher
        return [
            Paragraphs([Paragraph(Text(f"[ {WIDGET_WORDS['launcher']} ]", "bold"), right=True)])
        ]
    if not frame.widget_open:
        return []
    if frame.onboarding_form:
        contact = "phone" if frame.onboarding_identity == "phone" else "email"
        return [
            Paragraphs([Paragraph(Text(WIDGET_WORDS["form_intro"]))]),
            InputBox(WIDGET_WORDS["name"]),
            InputBox(WIDGET_WORDS[contact]),
            Text(f"[ {WIDGET_WORDS['start']} ]", "bold"),
        ]
    return [InputBox(WIDGET_WORDS["compose"], WIDGET_WORDS["send"])]
