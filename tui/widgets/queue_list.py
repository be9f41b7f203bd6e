"""The conversation queue: one line per conversation, drawn with Textual's line API.

A queue may hold 100k conversations, so nothing here is proportional to its size but the
page directory (`core.queries.QueueIndex`: a count and one key per 64 rows, built in a
worker). Rows are read a page at a time by keyset from the directory, kept in an LRU cache,
and each line is rendered to a cached `Strip` only when it is on screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import on, work
from textual.cache import LRUCache
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.clock import Clock
from core.store import Desk
from core.store.queue import QueueFilter, QueueIndex, QueueRow, queue_index, queue_page
from tui.bindings import QUEUE_LIST, bindings_for
from tui.format import GLYPH, badge, badge_kind, fit, fit_right, status_words, waiting
from tui.text import clean_line
from tui.workers import ReportsWorkerErrors

PAGE = 64


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    title: str
    width: int
    align: str = "left"


#: The trusted mark and its space, at the head of the last customer message's cell.
MARK_WIDTH = 2


def columns(width: int) -> list[Column]:
    """The queue's columns for a given width; the last customer message takes what is left.

    The trusted mark stands in that last cell, before the message it is about.
    """
    cols = [
        Column("badge", "Identity", 18),
        Column("customer", "Customer", 20),
        Column("unanswered", "Unanswered", 10, "right"),
        Column("status", " Status", 12),
        Column("inbox", "Inbox", 9),
        Column("assignee", "Agent", 8),
    ]
    for dropped in ("inbox", "assignee"):  # narrow terminals: the message before these
        if width - sum(c.width + 1 for c in cols) >= 16 + MARK_WIDTH:
            break
        cols = [c for c in cols if c.name != dropped]
    fixed = sum(c.width + 1 for c in cols)
    cols.append(Column("preview", "Last customer message", max(MARK_WIDTH + 4, width - fixed)))
    return cols


class QueueList(ReportsWorkerErrors, ScrollView, can_focus=True):
    """A keyboard-driven list of conversations in queue order."""

    BINDINGS = bindings_for(QUEUE_LIST)

    COMPONENT_CLASSES = {
        "queue-list--cursor",
        "queue-list--glyph-green",
        "queue-list--glyph-gray",
        "queue-list--trusted",
        "queue-list--claimed",
        "queue-list--expired",
        "queue-list--anonymous",
        "queue-list--cleared",
        "queue-list--waiting",
        "queue-list--unassigned",
        "queue-list--dim",
        "queue-list--loading",
        "queue-list--header",
    }

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    @dataclass
    class ConversationSelected(Message):
        """The agent opened a conversation from the queue."""

        conversation_id: int

    @dataclass
    class Loaded(Message):
        """A reload finished: the directory and the pages on screen."""

        generation: int
        index: QueueIndex
        pages: dict[int, list[QueueRow]]

    def __init__(
        self,
        desk: Desk,
        clock: Clock,
        queue: QueueFilter,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.desk = desk
        self.clock = clock
        self.queue = queue
        self.index: QueueIndex | None = None
        self._pages: LRUCache[int, list[QueueRow]] = LRUCache(256)
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(2048)
        self._generation = 0
        self._loading = False
        self._reload_pending = False
        self._selected_id: int | None = None

    # -- data --------------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return self.index.total if self.index else 0

    @property
    def loaded(self) -> bool:
        return self.index is not None

    def set_filter(self, queue: QueueFilter) -> None:
        """Show another queue, from its head."""
        self.queue = queue
        self.index = None
        self._pages.clear()
        self._strips.clear()
        self.virtual_size = Size(self.size.width, 1)
        self.cursor = 0
        self._selected_id = None
        self.scroll_to(y=0, animate=False, immediate=True)
        self.reload()

    def reload(self) -> None:
        """Re-read the queue in a worker; bursts of calls collapse into one more read."""
        if self._loading:
            self._reload_pending = True
            return
        self._loading = True
        self._generation += 1
        first = int(self.scroll_y) // PAGE
        last = (int(self.scroll_y) + self.page_height) // PAGE
        self._load(self._generation, self.queue, first, last)

    @work(thread=True, exclusive=True, exit_on_error=False, group="queue-load")
    def _load(self, generation: int, queue: QueueFilter, first_page: int, last_page: int) -> None:
        index = queue_index(self.desk, queue, every=PAGE)
        pages: dict[int, list[QueueRow]] = {}
        for page in range(first_page, last_page + 1):
            anchor = index.anchor(page)
            if anchor is not None:
                pages[page] = queue_page(self.desk, queue, start=anchor, limit=PAGE)
        self.post_message(self.Loaded(generation, index, pages))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self._loading = False
        if message.generation == self._generation:
            self.index = message.index
            self._pages.clear()
            for page, rows in message.pages.items():
                self._pages[page] = rows
            self._strips.clear()
            self.virtual_size = Size(self.size.width, message.index.total + 1)
            self._follow_selection()
            self.refresh()
        if self._reload_pending:
            self._reload_pending = False
            self.reload()

    def _follow_selection(self) -> None:
        """Keep the cursor on the conversation it was on, if that is still close by."""
        total = self.total
        if self._selected_id is not None:
            for page in (self.cursor // PAGE - 1, self.cursor // PAGE, self.cursor // PAGE + 1):
                rows = self._pages.get(page) or []
                for offset, row in enumerate(rows):
                    if row.id == self._selected_id:
                        self.cursor = page * PAGE + offset
                        return
        self.cursor = min(self.cursor, max(0, total - 1))

    def _page(self, page: int) -> list[QueueRow] | None:
        rows = self._pages.get(page)
        if rows is not None:
            return rows
        if self.index is None:
            return None
        anchor = self.index.anchor(page)
        if anchor is None:
            return None
        # One keyset read of PAGE rows on an index: well under a millisecond.
        rows = queue_page(self.desk, self.queue, start=anchor, limit=PAGE)
        self._pages[page] = rows
        return rows

    def row(self, position: int) -> QueueRow | None:
        """The row at a queue position, or None past the end (or before the first load)."""
        if position < 0 or position >= self.total:
            return None
        rows = self._page(position // PAGE)
        offset = position % PAGE
        if rows is None or offset >= len(rows):
            return None
        return rows[offset]

    @property
    def selected(self) -> QueueRow | None:
        return self.row(self.cursor)

    @property
    def page_height(self) -> int:
        """Rows on screen (line 0 is the column header)."""
        return max(1, self.size.height - 1)

    def visible_rows(self) -> list[QueueRow]:
        top = int(self.scroll_y)
        rows = (self.row(n) for n in range(top, top + self.page_height))
        return [r for r in rows if r is not None]

    def refresh_rows(self) -> None:
        """Redraw (waiting times move on with the clock)."""
        self._strips.clear()
        self.refresh()

    # -- cursor ------------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        row = self.row(new)
        self._selected_id = row.id if row else None
        self._scroll_cursor_into_view()
        self._refresh_position(old)
        self._refresh_position(new)

    def _refresh_position(self, position: int) -> None:
        y = position - int(self.scroll_y) + 1
        if 1 <= y < self.size.height:
            self.refresh_line(y)

    def _scroll_cursor_into_view(self) -> None:
        height = self.page_height
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _move(self, position: int) -> None:
        self.cursor = max(0, min(position, self.total - 1))
        self.refresh_soon()

    def action_cursor_up(self) -> None:
        self._move(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._move(self.cursor + 1)

    def action_page_down(self) -> None:
        height = self.page_height
        self.scroll_to(y=self.scroll_y + height, animate=False, immediate=True)
        self._move(self.cursor + height)

    def action_page_up(self) -> None:
        height = self.page_height
        self.scroll_to(y=self.scroll_y - height, animate=False, immediate=True)
        self._move(self.cursor - height)

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(self.total - 1)

    def action_select(self) -> None:
        row = self.selected
        if row is not None:
            self.post_message(self.ConversationSelected(row.id))

    def on_click(self, event: Click) -> None:
        position = int(self.scroll_y) + event.y - 1
        if event.y < 1 or self.row(position) is None:
            return
        if position == self.cursor and event.chain >= 2:
            self.action_select()
        self.cursor = position

    # -- rendering -----------------------------------------------------------------------------

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.total + 1)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if round(old) != round(new):
            self.refresh_soon()

    def refresh_soon(self) -> None:
        """Refresh now and once more shortly after.

        Measured in bench/console.py: now and then a refresh right after a key never reached
        the screen (Textual dropped the widget's update) and nothing was drawn until some
        later refresh, up to 15 s on. The second refresh redraws from cached strips.
        """
        self.refresh()
        self.set_timer(0.05, self.refresh, name="refresh guard")

    def on_focus(self) -> None:
        self._refresh_position(self.cursor)

    def on_blur(self) -> None:
        self._refresh_position(self.cursor)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._header(width)
        position = int(self.scroll_y) + y - 1
        row = self.row(position)
        selected = position == self.cursor and self.has_focus
        key = (position, row, width, selected, self.cursor == position)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_row(row, width, position == self.cursor, selected)
            self._strips[key] = strip
        return strip.crop(int(self.scroll_x), int(self.scroll_x) + width)

    def _header(self, width: int) -> Strip:
        key = ("header", width)
        strip = self._strips.get(key)
        if strip is None:
            style = self.rich_style + self.get_component_rich_style("queue-list--header")
            text = " ".join(fit(c.title, c.width) for c in columns(width))
            strip = Strip([Segment(fit(text, width), style)], width)
            self._strips[key] = strip
        return strip

    def _render_row(self, row: QueueRow | None, width: int, cursor: bool, focused: bool) -> Strip:
        base = self.rich_style
        if row is None:
            if self.index is None:
                style = base + self.get_component_rich_style("queue-list--loading")
                return Strip([Segment(fit(" loading…", width), style)], width)
            return Strip.blank(width, base)
        style_of = self.get_component_rich_style
        if cursor:
            cursor_style = style_of("queue-list--cursor")
            if not focused:
                cursor_style = Style(bgcolor=cursor_style.bgcolor, dim=True)
            base = base + cursor_style
        segments: list[Segment] = []
        for column in columns(width):
            if column.name == "preview":
                mark_style, mark = self._mark(row)
                segments.append(Segment(fit(mark, MARK_WIDTH), base + mark_style))
                column = Column(column.name, column.title, column.width - MARK_WIDTH)
            style, text = self._cell(row, column)
            cell = (
                fit_right(text, column.width)
                if column.align == "right"
                else fit(text, column.width)
            )
            segments.append(Segment(cell, base + style))
            if column.name != "preview":
                segments.append(Segment(" ", base))
        return Strip(segments).adjust_cell_length(width, base)

    def _mark(self, row: QueueRow) -> tuple[Style, str]:
        """The trusted mark of the last customer message: from the stored flag only."""
        state = row.glyph
        if state is None:
            return Style(), ""  # a blank cell of the same width
        return self.get_component_rich_style(f"queue-list--glyph-{state}", partial=True), GLYPH

    def _cell(self, row: QueueRow, column: Column) -> tuple[Style, str]:
        """Text and foreground style of one cell (partial styles: the row owns the background)."""

        def get(name: str) -> Style:
            return self.get_component_rich_style(name, partial=True)

        name = column.name
        if name == "badge":
            kind = badge_kind(row.identity_state, row.identity_source)
            return get(f"queue-list--{kind}"), badge(row.identity_state, row.identity_source)
        if name == "customer":
            return Style(bold=True), clean_line(row.customer, limit=200)
        if name == "unanswered":
            if not row.customer_waiting:
                return get("queue-list--dim"), "—"
            return get("queue-list--waiting"), waiting(row.waiting_since, self.clock.now_ms())
        if name == "status":
            return get("queue-list--dim"), " " + status_words(row.status)
        if name == "inbox":
            return Style(), clean_line(row.inbox, limit=60)
        if name == "assignee":
            if row.assignee is None:
                return get("queue-list--unassigned"), "held" if row.held else "—"
            return get("queue-list--dim"), clean_line(row.assignee, limit=60)
        return get("queue-list--dim"), clean_line(row.last_preview, limit=400)
