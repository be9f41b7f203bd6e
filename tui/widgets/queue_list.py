"""The conversation queue: one line per conversation, drawn with Textual's line API.

A queue may hold 100k conversations, so nothing here is proportional to its size but the
page directory (`core.console.QueueDirectory`: a count and one cursor per 64 rows, built in a
worker). Rows are read a page at a time by keyset from the directory, kept in an LRU cache,
and each line is rendered to a cached `Strip` (keyed by the row's content) only when it is
on screen.

Live updates (`changed()`) re-read, in one background read at a time
(`ConsoleData.queue_snapshot`: locally on a connection of its own), the pages on screen, and
the directory when it is due (tui/widgets/queue_live.py); then only the lines whose row
changed are repainted.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import on, work
from textual.cache import LRUCache
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.console.data import ConsoleData, QueueDirectory, QueueQuery, QueueRow, QueueSnapshot
from tui.bindings import QUEUE_LIST, bindings_for
from tui.format import GLYPH, badge, badge_kind, fit, fit_right, status_words, waiting
from tui.text import clean_line
from tui.widgets.queue_live import DirectorySchedule, move_scrollbar, set_length
from tui.workers import LatestRead, ReadTicket, ReportsWorkerErrors

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
        """A background read ended: the directory and the pages on screen."""

        ticket: ReadTicket
        #: None when the read failed.
        read: QueueSnapshot | None

    def __init__(
        self,
        data: ConsoleData,
        queue: QueueQuery,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.data = data
        self.clock = data.clock
        self.queue = queue
        self.index: QueueDirectory | None = None
        self._pages: LRUCache[int, tuple[QueueRow, ...]] = LRUCache(256)
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(2048)
        self._selected_id: int | None = None
        #: The background reads of live updates (tests and bench/feed.py count them).
        self.live = LatestRead()
        self._closed = False
        self._directory = DirectorySchedule()
        self._catch_up_due = False
        #: Reads whose result changed the screen, and lines repainted by them (tests, bench).
        self.repaints = 0
        self.lines_repainted = 0

    # -- data --------------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return self.index.total if self.index else 0

    @property
    def loaded(self) -> bool:
        return self.index is not None

    def set_filter(self, queue: QueueQuery) -> None:
        """Show another queue, from its head."""
        self.queue = queue
        self.index = None
        self._pages.clear()
        self._strips.clear()
        self.virtual_size = Size(self.size.width, 1)
        self.cursor = 0
        self._selected_id = None
        self.scroll_to(y=0, animate=False, immediate=True)
        self._directory.changed()
        if self.live.invalidate():  # a read of the old queue still running is dropped
            self._start_read()

    def reload(self) -> None:
        """Re-read the queue, its directory included, in the background."""
        self._directory.now()
        self.changed()

    def changed(self) -> None:
        """The desk changed: re-read what is on screen. Calls during a read cost one more
        read when it ends, however many they are."""
        self._directory.changed()
        if self.live.change():
            self._start_read()

    def _start_read(self) -> None:
        ticket = self.live.begin()
        index = None if self.index is None or self._directory.due() else self.index
        top = int(self.scroll_y)
        pages = range(top // PAGE, (top + self.page_height - 1) // PAGE + 1)  # the screen's
        self._read(ticket, self.queue, index, pages)

    @work(thread=True, exit_on_error=False, group="queue-read")
    def _read(
        self, ticket: ReadTicket, queue: QueueQuery, index: QueueDirectory | None, pages: range
    ) -> None:
        read: QueueSnapshot | None = None
        try:
            # Locally on a connection of its own: the UI thread's page reads never wait for it.
            read = self.data.queue_snapshot(queue, directory=index, pages=pages, every=PAGE)
        except Exception:
            if not self._closed:
                raise  # reported by report_worker
        finally:
            self.post_message(self.Loaded(ticket, read))

    def on_unmount(self) -> None:
        self._closed = True

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        read = message.read
        show, again = self.live.finish(message.ticket, ok=read is not None)
        if show and read is not None:
            if read.directory_seconds is not None:
                self._directory.read(read.directory_seconds)
            self._show(read.directory, read.pages)
        else:
            message.stop()  # nothing new for the screen
        if again:
            self._start_read()
        elif self._directory.stale and not self._catch_up_due and self.index is not None:
            # The count lags behind the rows on screen. While changes keep coming, a read for
            # one of them takes the directory once it is due; if none comes by a gap later,
            # a read of its own does.
            self._catch_up_due = True
            self.set_timer(self._directory.catch_up_in(), self._catch_up, name="queue count")

    def _catch_up(self) -> None:
        self._catch_up_due = False
        if self._directory.stale and not self._closed and not self.live.running:
            self.changed()

    def _show(self, index: QueueDirectory, pages: dict[int, tuple[QueueRow, ...]]) -> None:
        """Take a read's rows, then repaint only the lines whose row changed."""
        top, before = int(self.scroll_y), self._rows_on_screen()
        self.index = index
        self._pages.clear()
        for page, rows in pages.items():
            self._pages[page] = rows
        self._follow_selection()  # may scroll: then ScrollView repaints every line
        if set_length(self, self.total + 1) or int(self.scroll_y) != top:
            changed = list(range(len(before)))
        else:
            after = self._rows_on_screen()
            changed = [
                y for y, pair in enumerate(zip(before, after, strict=True)) if pair[0] != pair[1]
            ]
            for y in changed:
                self._refresh_screen_line(y + 1)
        if changed:
            self.repaints += 1
            self.lines_repainted += len(changed)

    def _rows_on_screen(self) -> list[QueueRow | None]:
        """The rows of the lines on screen as cached now (no reads: a page not cached is None)."""
        top = int(self.scroll_y)
        out: list[QueueRow | None] = []
        for position in range(top, top + self.page_height):
            rows = self._pages.get(position // PAGE) if position < self.total else None
            offset = position % PAGE
            out.append(rows[offset] if rows is not None and offset < len(rows) else None)
        return out

    def _follow_selection(self) -> None:
        """Keep the cursor on the conversation it was on, if that is still close by."""
        if self._selected_id is not None:
            for page in (self.cursor // PAGE - 1, self.cursor // PAGE, self.cursor // PAGE + 1):
                rows = self._pages.get(page) or ()
                for offset, row in enumerate(rows):
                    if row.id == self._selected_id:
                        if page * PAGE + offset != self.cursor:
                            self.cursor = page * PAGE + offset
                        return
        cursor = min(self.cursor, max(0, self.total - 1))
        if cursor != self.cursor:
            self.cursor = cursor
        else:
            current = self.row(cursor)
            self._selected_id = current.id if current else None

    def _page(self, page: int) -> tuple[QueueRow, ...] | None:
        rows = self._pages.get(page)
        if rows is not None:
            return rows
        if self.index is None:
            return None
        start = self.index.start(page)
        if start is None:
            return None
        # Locally one keyset read of PAGE rows on an index: well under a millisecond.
        rows = self.data.queue_page(self.queue, after=start, limit=PAGE).rows
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
        self._refresh_screen_line(position - int(self.scroll_y) + 1)

    def _refresh_screen_line(self, y: int) -> None:
        """Repaint line `y` of the widget as it is on screen (0 is the column header).

        Not `ScrollView.refresh_line`, which takes a line of the virtual space (it subtracts
        the scroll offset): given a screen line, it repainted another one, or none, whenever
        the list was scrolled, and the cursor stayed drawn where it had been.
        """
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _scroll_cursor_into_view(self) -> None:
        height = self.page_height
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _move(self, position: int) -> None:
        # The cursor's watcher repaints the two lines it left and reached; scrolling repaints
        # the rest (ScrollView.watch_scroll_y).
        self.cursor = max(0, min(position, self.total - 1))

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
        # ScrollView's, but the scrollbar is repainted only when its thumb moves.
        if self.show_vertical_scrollbar:
            move_scrollbar(self.vertical_scrollbar, position=new)
        if round(old) != round(new):
            self.refresh(self.size.region)

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
        # By content, not position: rows that moved up or down a line keep their strips.
        key = (row, self.index is None, width, selected, self.cursor == position)
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
