"""A conversation's timeline on the line API: glyph column, time, sender, wrapped body.

Only a window of items is held (the latest page first; older pages are read by keyset when
the agent scrolls to the top), items are wrapped for the current width once, and each screen
line becomes a cached `Strip`. The glyph column shows ✔ only from the stored `trusted` flag:
green while the conversation is open or waiting, gray once closed, a blank cell otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.models import TimelineItem, glyph
from tui.bindings import TIMELINE_VIEW, bindings_for
from tui.format import GLYPH, fit, stamp
from tui.text import clean_line, clean_lines, wrap
from tui.widgets.queue_live import set_length

GLYPH_WIDTH = 2
TIME_WIDTH = 12
SENDER_WIDTH = 16
PREFIX_WIDTH = GLYPH_WIDTH + TIME_WIDTH + 1 + SENDER_WIDTH + 1

EVENT_LABELS = {
    "authenticated": "authenticated",
    "identity_cleared": "logged out",
    "trust_expired": "trust expired",
    "trust_revoked": "trust revoked",
    "other_chat_open": "other chat",
    "login_prompt_sent": "login prompt",
    "assigned": "assigned",
    "transferred": "transferred",
    "closed": "closed",
    "reopened": "reopened",
}


@dataclass(frozen=True, slots=True)
class Line:
    """One screen line of the timeline: which item, and which of its wrapped lines."""

    item: int  # index into TimelineView.items
    first: bool
    text: str


class TimelineView(ScrollView, can_focus=True):
    """The items of one conversation, newest at the bottom, following new ones."""

    BINDINGS = bindings_for(TIMELINE_VIEW)

    COMPONENT_CLASSES = {
        "timeline--glyph-green",
        "timeline--glyph-gray",
        "timeline--time",
        "timeline--customer",
        "timeline--agent",
        "timeline--bot",
        "timeline--system",
        "timeline--event",
        "timeline--event-authenticated",
        "timeline--event-warning",
        "timeline--hit",
        "timeline--more",
    }

    @dataclass
    class OlderWanted(Message):
        """Scrolled to the top of what is loaded while older items exist."""

        before_id: int

    def __init__(
        self,
        *,
        customer: str = "customer",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.customer = customer
        self.items: list[TimelineItem] = []
        self.status = "OPEN"
        self.has_older = False
        self._lines: list[Line] = []
        self._wrapped_width = -1
        self._wrap_cache: dict[tuple[int, int], list[str]] = {}
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self._older_requested: int | None = None
        #: The item a search opened the conversation at: highlighted, and shown first.
        self.focus_item: int | None = None
        self._focus_pending = False

    # -- content -------------------------------------------------------------------------------

    def set_items(
        self,
        status: str,
        items: Sequence[TimelineItem],
        *,
        has_older: bool,
        focus: int | None = None,
    ) -> None:
        """Replace everything; show the newest items, or the `focus` item (a search hit),
        highlighted, in the middle of the view."""
        self.status = status
        self.items = list(items)
        self.has_older = has_older
        self._older_requested = None
        self.focus_item = focus
        self._focus_pending = focus is not None
        if self.scrollable_content_region.width == 0:
            # Not laid out yet: wrapping now would be thrown away; on_resize lays it out.
            self._wrapped_width = -1
            return
        self._relayout()
        self._show_focus_or_end()

    def _show_focus_or_end(self) -> None:
        row = self._focus_row() if self._focus_pending else None
        self._focus_pending = False
        if row is None:
            self.scroll_end(animate=False)
            return
        top = row - self.scrollable_content_region.height // 3
        self.scroll_to(y=max(0, top), animate=False, immediate=True)

    def _focus_row(self) -> int | None:
        """The virtual row of the focus item's first line, if it is loaded."""
        for n, line in enumerate(self._lines):
            if line.first and self.items[line.item].id == self.focus_item:
                return n + (1 if self.has_older else 0)
        return None

    def focus_line(self) -> int | None:
        """The first line of the focus item on screen (0 = the top row), if it is shown."""
        row = self._focus_row()
        return None if row is None else row - int(self.scroll_y)

    def append_items(self, items: Sequence[TimelineItem]) -> int:
        """Add newer items (live updates); follow them if the view was at the bottom."""
        last_id = self.items[-1].id if self.items else 0
        new = [item for item in items if item.id > last_id]
        if not new:
            return 0
        at_bottom = self.scroll_y >= self.max_scroll_y
        self.items.extend(new)
        start = len(self.items) - len(new)
        width = self._body_width()
        for index in range(start, len(self.items)):
            self._lines.extend(self._item_lines(index, width))
        # Longer, not wider: the scrollbar is told, not the whole screen laid out again
        # (as the queue does under a feed).
        set_length(self, len(self._lines) + (1 if self.has_older else 0))
        if at_bottom:
            self.scroll_end(animate=False)
        self.refresh()
        return len(new)

    def prepend_items(self, items: Sequence[TimelineItem], *, has_older: bool) -> None:
        """Add older items above, keeping what the agent looks at in place."""
        first_id = self.items[0].id if self.items else None
        old = [item for item in items if first_id is None or item.id < first_id]
        self.has_older = has_older
        self._older_requested = None
        if not old:
            self.refresh()
            return
        before = len(self._lines)
        self.items = old + self.items
        self._wrap_cache.clear()
        self._relayout()
        self.scroll_to(y=self.scroll_y + len(self._lines) - before, animate=False, immediate=True)

    def set_status(self, status: str) -> None:
        """The conversation's status changed: glyphs turn gray (closed) or green (reopened)."""
        if status != self.status:
            self.status = status
            self._strips.clear()
            self.refresh()

    # -- layout --------------------------------------------------------------------------------

    def _body_width(self) -> int:
        return max(10, self.scrollable_content_region.width - PREFIX_WIDTH)

    def _relayout(self) -> None:
        width = self._body_width()
        self._lines = []
        for index in range(len(self.items)):
            self._lines.extend(self._item_lines(index, width))
        self._wrapped_width = width
        self._strips.clear()
        self._set_virtual_size()
        self.refresh()

    def _set_virtual_size(self) -> None:
        extra = 1 if self.has_older else 0
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._lines) + extra)

    def _item_lines(self, index: int, width: int) -> list[Line]:
        item = self.items[index]
        wrapped = self._wrap(item, width)
        return [Line(index, n == 0, text) for n, text in enumerate(wrapped)]

    def _wrap(self, item: TimelineItem, width: int) -> list[str]:
        key = (item.id, width)
        cached = self._wrap_cache.get(key)
        if cached is not None:
            return cached
        sources = [clean_line(item.body)] if item.type == "event" else clean_lines(item.body)
        out: list[str] = []
        for source in sources:
            if cell_len(source) <= width:
                out.append(source)
                continue
            out.extend(part.plain for part in wrap(Text(source), width))
        self._wrap_cache[key] = out or [""]
        return self._wrap_cache[key]

    def on_resize(self) -> None:
        if self._body_width() != self._wrapped_width and self.items:
            at_bottom = self.scroll_y >= self.max_scroll_y
            self._relayout()
            if self._focus_pending:
                self._show_focus_or_end()
            elif at_bottom:
                self.scroll_end(animate=False)
        else:
            self._set_virtual_size()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if round(old) != round(new):
            # Once more shortly after, from cached strips: a guard against a lost repaint.
            self.refresh()
            self.set_timer(0.05, self.refresh, name="refresh guard")
        if new < 1 and self.has_older and self.items:
            before_id = self.items[0].id
            if self._older_requested != before_id:
                self._older_requested = before_id
                self.post_message(self.OlderWanted(before_id))

    # -- rendering -----------------------------------------------------------------------------

    def lines_text(self) -> list[str]:
        """Plain text of every laid-out line, glyph column included (for tests and copying)."""
        return [
            self._line_strip(n, 200).text for n in range(len(self._lines) + int(self.has_older))
        ]

    def render_line(self, y: int) -> Strip:
        number = int(self.scroll_y) + y
        width = self.scrollable_content_region.width
        key = (number, width, self.status, len(self._lines), self.has_older)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._line_strip(number, width)
            self._strips[key] = strip
        return strip.crop(int(self.scroll_x), int(self.scroll_x) + width)

    def _line_strip(self, number: int, width: int) -> Strip:
        base = self.rich_style
        get = self.get_component_rich_style
        if self.has_older:
            if number == 0:
                text = fit(" ↑ older messages: scroll up to load", width)
                return Strip([Segment(text, base + get("timeline--more"))], width)
            number -= 1
        if not 0 <= number < len(self._lines):
            return Strip.blank(width, base)
        line = self._lines[number]
        item = self.items[line.item]
        segments: list[Segment] = []
        state = glyph(item.trusted, self.status) if line.first else None
        if state is None:
            segments.append(Segment(" " * GLYPH_WIDTH, base))
        else:
            segments.append(Segment(GLYPH, base + get(f"timeline--glyph-{state}")))
            segments.append(Segment(" " * (GLYPH_WIDTH - 1), base))
        if line.first:
            segments.append(Segment(fit(stamp(item.at), TIME_WIDTH), base + get("timeline--time")))
            segments.append(Segment(" ", base))
            sender_style, sender = self._sender(item)
            segments.append(Segment(fit(sender, SENDER_WIDTH), base + sender_style))
            segments.append(Segment(" ", base))
        else:
            segments.append(Segment(" " * (TIME_WIDTH + 1 + SENDER_WIDTH + 1), base))
        body_style = base + self._body_style(item)
        if item.id == self.focus_item and item.id is not None:
            body_style += get("timeline--hit")
        segments.append(Segment(line.text, body_style))
        return Strip(segments).adjust_cell_length(width, base)

    def _sender(self, item: TimelineItem) -> tuple[Style, str]:
        get = self.get_component_rich_style
        if item.type == "event":
            return get("timeline--system"), "· " + EVENT_LABELS.get(item.event or "", "event")
        if item.sender == "customer":
            return get("timeline--customer"), clean_line(self.customer, limit=200)
        if item.sender == "agent":
            return get("timeline--agent"), clean_line(item.agent or "agent", limit=60)
        if item.sender == "bot":
            return get("timeline--bot"), "bot"
        return get("timeline--system"), item.sender

    def _body_style(self, item: TimelineItem) -> Style:
        if item.type != "event":
            return Style()
        get = self.get_component_rich_style
        if item.event == "authenticated":
            return get("timeline--event-authenticated")
        if item.event in ("identity_cleared", "trust_expired", "trust_revoked", "other_chat_open"):
            return get("timeline--event-warning")
        return get("timeline--event")
