"""The queue's live updates, apart from the widget (tui/widgets/queue_list.py): when the
page directory is read again, and when the scrollbar needs a repaint (what one background
read reads is `ConsoleData.queue_snapshot`).

Reading the directory walks the whole queue, so under a busy feed it is re-read at most every
`INDEX_GAP_S`, or `INDEX_BACKOFF` times its own read time when that is longer; the rows on
screen are re-read on every change, and the count catches up.
"""

from __future__ import annotations

import time
from math import ceil

from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar

INDEX_BACKOFF = 10
INDEX_GAP_S = 0.25


class DirectorySchedule:
    """When the queue's directory (its count and page anchors) is to be read again."""

    __slots__ = ("_read_at", "_seconds", "stale")

    def __init__(self) -> None:
        self.stale = True
        self._read_at = 0.0
        self._seconds = 0.0

    def changed(self) -> None:
        self.stale = True

    def now(self) -> None:
        """Read it with the next read, however recently it was read."""
        self.stale = True
        self._read_at = 0.0

    def wait(self) -> float:
        """Seconds until it may be read again (0 or less: now)."""
        gap = max(INDEX_GAP_S, INDEX_BACKOFF * self._seconds)
        return gap - (time.monotonic() - self._read_at)

    def catch_up_in(self) -> float:
        """Seconds to wait before a read of its own, when no change comes to bring one: a
        gap past its due time."""
        return max(0.0, self.wait()) + INDEX_GAP_S

    def due(self) -> bool:
        return self.stale and self.wait() <= 0

    def read(self, seconds: float) -> None:
        """It was just read, in `seconds`."""
        self.stale = False
        self._read_at = time.monotonic()
        self._seconds = seconds


def thumb_eighths(size: int, virtual: float, window: float, position: float) -> tuple[int, int]:
    """Where a vertical scrollbar of `size` cells draws its thumb, in eighths of a cell: the
    arithmetic of Textual's `ScrollBarRender.render_bar`."""
    if not (window and size and virtual and size != virtual):
        return (0, 0)
    thumb = max(1.0, window / (virtual / size))
    start = int((size - thumb) * (position / (virtual - window)) * 8)
    return start, start + ceil(thumb * 8)


def move_scrollbar(
    bar: ScrollBar, *, length: int | None = None, position: float | None = None
) -> None:
    """Tell a vertical scrollbar the list's length or scroll position, and repaint it only
    when its thumb moves on screen: the bar is as tall as the list, and under a feed the
    length (and, with the cursor following its conversation, the position) moves by a row at
    a time, which seldom moves the thumb by an eighth of a cell."""
    drawn = thumb_eighths(bar.size.height, bar.window_virtual_size, bar.window_size, bar.position)
    if length is not None:
        bar.set_reactive(ScrollBar.window_virtual_size, length)
    if position is not None:
        bar.set_reactive(ScrollBar.position, bar.validate_position(position))
    now = thumb_eighths(bar.size.height, bar.window_virtual_size, bar.window_size, bar.position)
    if now != drawn:
        bar.refresh()


def set_length(view: ScrollView, height: int) -> bool:
    """Make a list's scrollable space `height` lines long; True when that repaints every line.

    Setting `virtual_size` lays the screen out again and repaints the whole list, and under a
    feed the queue's length moves every tick: while the scrollbar is there before and after
    and the list need not scroll back, only the scrollbar is told; while there is none before
    and after, the lines are repainted without a layout.
    """
    if height == view.virtual_size.height:
        return False
    screen = view.size.height
    if max(view.virtual_size.height, height) <= screen:
        # No scrollbar before or after: nothing to lay out, the lines are repainted.
        view.set_reactive(ScrollView.virtual_size, Size(view.size.width, height))
        view.refresh()
        return True
    if min(view.virtual_size.height, height) > screen and view.scroll_y <= height - screen:
        view.set_reactive(ScrollView.virtual_size, Size(view.size.width, height))
        move_scrollbar(view.vertical_scrollbar, length=height)
        return False
    view.virtual_size = Size(view.size.width, height)
    return True
