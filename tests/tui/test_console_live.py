"""Live updates in the console: the change-feed tail, coalesced refreshes, and what repaints.

The tail is driven by hand here (`poll_feed()`, with the timer set far out), so that every
count is exact: how many ticks, how many reads of the feed, how many background reads and
repaints a burst cost. Another `Desk` connection to the same file stands for another process.
No assertion is about time. The fixtures `db` (a copy of the demo desk) and `other` (a second
writer on it) are in tests/tui/conftest.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.scrollbar import ScrollBarRender

from core.console import local as console_local
from core.engine import Engine
from tests.console_helpers import SIZE, customer_writes, frozen_clock, wait_until
from tests.tui.test_console import open_conversation
from tui import app as app_module
from tui.app import DeskApp, make_app
from tui.screens.queue import QueueScreen
from tui.widgets import queue_live
from tui.widgets.queue_list import QueueList
from tui.widgets.queue_live import thumb_eighths
from tui.workers import LatestRead

#: The timer's own ticks never come during a test: the test ticks.
BY_HAND = 3600.0
#: Alice's open, trusted conversation with Diego Fischer in the demo desk.
TRUSTED_OPEN = 384


@pytest.fixture
def directory_every_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each background read of the queue reads its directory too: counts of reads are exact
    (otherwise the count can follow a moment later, in a read of its own)."""
    monkeypatch.setattr(queue_live, "INDEX_BACKOFF", 0)
    monkeypatch.setattr(queue_live, "INDEX_GAP_S", 0)


def console(db: Path, **kwargs: Any) -> DeskApp:
    return make_app(db, agent="alice", clock=frozen_clock(), tail_interval=BY_HAND, **kwargs)


async def settle(pilot: Pilot) -> None:
    """Until no worker runs and no message waits (a read's result can start another read)."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def tick(pilot: Pilot) -> bool:
    """One tick of the tail, and everything it sets going; whether it read the feed."""
    app: DeskApp = pilot.app  # type: ignore[assignment]
    started = app.poll_feed()
    await settle(pilot)
    return started


async def queue_ready(pilot: Pilot) -> QueueList:
    await wait_until(lambda: isinstance(pilot.app.screen, QueueScreen))
    queue = pilot.app.screen.query_one(QueueList)
    await wait_until(lambda: queue.loaded)
    await tick(pilot)  # the tail's first tick reads once, to learn where the file is
    return queue


def new_chat(engine: Engine, name: str, *messages: str) -> int:
    """A customer opens the widget, says who they are and writes: one transaction a call."""
    return chat_session(engine, name, *messages)[0]


def chat_session(engine: Engine, name: str, *messages: str) -> tuple[int, str]:
    """`new_chat`, and the widget session it came from."""
    session = engine.init_session("retale")
    email = name.lower().replace(" ", ".") + "@example.com"
    engine.set_user(session.session_id, name=name, email=email)
    conversation_id = engine.send_message(session.session_id, messages[0]).conversation_id
    for body in messages[1:]:
        engine.send_message(session.session_id, body)
    return conversation_id, session.session_id


def shown_ids(queue: QueueList) -> list[int]:
    return [row.id for row in queue.visible_rows()]


def counts(app: DeskApp, queue: QueueList) -> dict[str, int]:
    return {
        **app.feed_stats(),
        "queue reads": queue.live.reads,
        "queue repaints": queue.repaints,
    }


def grew(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after}


# -- the tail ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("directory_every_read")
async def test_idle_ticks_read_nothing_and_a_write_elsewhere_is_read_once(
    db: Path, other: Engine
) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        before = counts(app, queue)
        for _ in range(5):
            assert not await tick(pilot)
        assert grew(before, counts(app, queue)) == {
            "polls": 5,
            "reads": 0,
            "batches": 0,
            "events": 0,
            "queue reads": 0,
            "queue repaints": 0,
        }
        other.reply(TRUSTED_OPEN, "bruno", "Bruno here")  # another connection writes
        assert await tick(pilot)
        assert not await tick(pilot)
        after = grew(before, counts(app, queue))
        assert (after["reads"], after["batches"], after["queue reads"]) == (1, 1, 1)


async def test_the_consoles_own_action_reaches_it_through_the_feed(db: Path) -> None:
    """The console writes on its own connection; the tail reads on another, so it hears it."""
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await queue_ready(pilot)
        first = app.last_event_id
        app.data.reply(TRUSTED_OPEN, "On it")
        assert await tick(pilot)
        assert app.last_event_id > first


async def test_a_backlog_longer_than_one_read_is_read_on_the_next_ticks(
    db: Path, other: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "FEED_BATCH", 3)
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await queue_ready(pilot)
        first = other.desk.last_event_id()
        new_chat(other, "Nora New", "Hello", "Anyone there?", "Order 1234")
        written = other.desk.last_event_id() - first
        assert written > 6
        ticks = 0
        while app.last_event_id < first + written:
            assert await tick(pilot)  # nothing new was written, yet each tick reads on
            ticks += 1
            assert ticks <= written
        assert ticks == -(-written // 3)
        if written % 3 == 0:
            assert await tick(pilot)  # the last read was full: one more, which finds nothing
        assert not await tick(pilot)


# -- coalescing -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("directory_every_read")
async def test_a_burst_from_another_process_costs_one_read_and_one_repaint(
    db: Path, other: Engine
) -> None:
    app = console(db, queue_view="all")
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        before, first = counts(app, queue), other.desk.last_event_id()
        chats = [
            new_chat(other, f"Burst Customer {n}", "Hello", f"Order {n}", "Please help")
            for n in range(3)
        ]
        written = other.desk.last_event_id() - first
        assert written >= 20  # many transactions, many events
        assert await tick(pilot)
        assert grew(before, counts(app, queue)) == {
            "polls": 1,
            "reads": 1,
            "batches": 1,
            "events": written,
            "queue reads": 1,
            "queue repaints": 1,
        }
        assert set(chats) <= set(shown_ids(queue))
        assert queue.lines_repainted <= queue.page_height * (queue.repaints or 1)


async def test_changes_during_a_read_cost_one_more_read_not_one_each(
    db: Path, other: Engine, hold: Hold
) -> None:
    app = console(db, queue_view="all")
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        before = counts(app, queue)
        first = await hold.read_for_new_chat(app, other, "First Arrival")
        later: list[int] = []
        for n in range(3):  # three more batches while it is held
            later.append(new_chat(other, f"Later Arrival {n}", "Hello"))
            await batch_handed_over(app)
        assert queue.live.reads == before["queue reads"] + 1  # none started meanwhile
        hold.release()
        await settle(pilot)
        assert grew(before, counts(app, queue))["queue reads"] == 2
        assert {first, *later} <= set(shown_ids(queue))


async def test_a_read_of_the_queue_left_behind_is_dropped(
    db: Path, other: Engine, hold: Hold, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent switches queue while a read of the old one is held: its rows never show."""
    app = console(db, queue_view="all")
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        await hold.read_for_new_chat(app, other, "Someone New")
        await pilot.press("v")  # the next view: Mine
        assert "Mine" in str(app.screen.query_one("#filter-bar").render())
        shown: list[list[int]] = []
        original = QueueList._show

        def spy(self: QueueList, index: Any, pages: Any) -> None:
            original(self, index, pages)
            shown.append(shown_ids(self))

        monkeypatch.setattr(QueueList, "_show", spy)
        hold.release()
        await settle(pilot)
        assert len(shown) == 1  # the held read of All was dropped; only Mine was shown
        assert TRUSTED_OPEN in shown_ids(queue)
        assert all(row.assignee == "alice" for row in queue.visible_rows())


async def batch_handed_over(app: DeskApp) -> None:
    """A tick that reads the feed, until its batch has reached the screens."""
    batches = app.feed_batches
    assert app.poll_feed()
    await wait_until(lambda: app.feed_batches == batches + 1)


@pytest.fixture
def hold(monkeypatch: pytest.MonkeyPatch) -> Hold:
    return Hold(monkeypatch)


class Hold:
    """Holds the queue's next background read in its directory read until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self._gate = threading.Event()
        self._armed = False
        real: Callable[..., Any] = console_local.queue_index

        def held(*args: Any, **kwargs: Any) -> Any:
            if self._armed:
                self._armed = False
                self.entered.set()
                self._gate.wait(30)
            return real(*args, **kwargs)

        monkeypatch.setattr(console_local, "queue_index", held)
        monkeypatch.setattr(queue_live, "INDEX_BACKOFF", 0)  # every read reads the directory
        monkeypatch.setattr(queue_live, "INDEX_GAP_S", 0)

    async def read_for_new_chat(self, app: DeskApp, other: Engine, name: str) -> int:
        """A new chat from another process, and a tick: the queue's read it sets going is
        held until `release()`. Returns the chat's id."""
        chat = new_chat(other, name, "Hello")
        self._armed = True
        assert app.poll_feed()
        await wait_until(self.entered.is_set)
        return chat

    def release(self) -> None:
        self._gate.set()


# -- updates still arrive ---------------------------------------------------------------------------


async def test_a_new_chat_shows_in_the_queue_after_one_tick(db: Path, other: Engine) -> None:
    app = console(db, queue_view="all")
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        total, polls = queue.total, app.feed_polls
        chat, session = chat_session(other, "Nora New", "Hello from the website")
        assert await tick(pilot)
        await wait_until(lambda: queue.total == total + 1)  # the count may follow a moment on
        assert app.feed_polls == polls + 1
        assert preview(queue, chat) == "Hello from the website"
        other.send_message(session, "And a second line")
        assert await tick(pilot)
        assert preview(queue, chat) == "And a second line"


def preview(queue: QueueList, conversation_id: int) -> str | None:
    rows = [row for row in queue.visible_rows() if row.id == conversation_id]
    return rows[0].last_preview if rows else None


async def test_a_burst_for_the_open_conversation_costs_one_read(db: Path, other: Engine) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, TRUSTED_OPEN)
        await tick(pilot)  # the tail's first tick: where the file is
        reads = screen.live.reads
        for body in ("Hello?", "Are you there?", "Order 1234"):
            customer_writes(other, "diego.fischer@example.org", body)
        assert await tick(pilot)
        assert screen.live.reads == reads + 1
        bodies = [item.body for item in screen.timeline.items]
        assert [b for b in bodies if b in ("Hello?", "Are you there?", "Order 1234")] == [
            "Hello?",
            "Are you there?",
            "Order 1234",
        ]


async def test_the_queue_under_a_conversation_reads_nothing_until_it_is_back(
    db: Path, other: Engine
) -> None:
    """A queue covered by a conversation does not follow the feed (each read would be a
    whole-queue read competing with the conversation's own); back on top, it reads once."""
    app = console(db, queue_view="all")
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        reads = queue.live.reads
        screen = await open_conversation(pilot, TRUSTED_OPEN)
        await tick(pilot)
        chat, _ = chat_session(other, "Nora New", "Hello from the website")
        customer_writes(other, "diego.fischer@example.org", "Still there?")
        assert await tick(pilot)
        await wait_until(lambda: screen.timeline.items[-1].body == "Still there?")
        assert queue.live.reads == reads
        await pilot.press("escape")
        await wait_until(lambda: isinstance(app.screen, QueueScreen))
        await wait_until(lambda: preview(queue, chat) == "Hello from the website")
        assert queue.live.reads == reads + 1


# -- what is painted --------------------------------------------------------------------------------


def painted_cursor_lines(pilot: Pilot, queue: QueueList) -> list[int]:
    """Lines of the list painted with the cursor's background, as the screen holds them."""
    cursor = queue.get_component_rich_style("queue-list--cursor").bgcolor
    region = queue.content_region
    return [
        y - region.y
        for y in range(region.y + 1, region.bottom)
        if pilot.app.screen.get_style_at(region.x + 30, y).bgcolor == cursor
    ]


async def test_the_cursor_is_painted_where_it_is_when_the_list_is_scrolled(db: Path) -> None:
    app = console(db, queue_view="all", queue_status="all")  # every conversation: many pages
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        await pilot.press("pagedown", "pagedown", "pagedown")
        await settle(pilot)
        assert queue.scroll_y > 0
        for key in ("down", "down", "up", "down"):
            await pilot.press(key)
            await settle(pilot)
            assert painted_cursor_lines(pilot, queue) == [queue.cursor - int(queue.scroll_y) + 1]
        target = queue.cursor + 5
        await pilot.click(QueueList, offset=(30, target - int(queue.scroll_y) + 1))
        await settle(pilot)
        assert queue.cursor == target
        assert painted_cursor_lines(pilot, queue) == [target - int(queue.scroll_y) + 1]


# -- the parts ----------------------------------------------------------------------------------


def test_latest_read_runs_one_read_at_a_time_and_drops_what_was_left_behind() -> None:
    live = LatestRead()
    assert live.change()  # nothing running: start one
    first = live.begin()
    assert not live.change() and not live.change()  # covered by one more read
    assert live.finish(first) == (True, True)  # show it, and read again
    second = live.begin()
    assert live.finish(second) == (True, False)
    third = live.begin() if live.change() else None
    assert third is not None
    assert not live.invalidate()  # another queue picked while it runs
    assert live.finish(third) == (False, True)  # dropped; read the new queue
    fourth = live.begin()
    assert live.finish(fourth, ok=False) == (False, False)  # failed: no retry of its own
    assert live.finish(fourth) == (False, False)  # and a ticket twice is ignored
    assert (live.reads, live.shown_reads) == (4, 2)


def test_the_scrollbar_is_repainted_whenever_its_drawing_changes() -> None:
    """`thumb_eighths` equal means Textual draws the same bar: skipping the repaint is safe."""
    size, window, position = 30, 30, 400.0
    drawn = []
    for length in range(600, 1400, 7):
        bar = ScrollBarRender.render_bar(
            size=size, virtual_size=length, window_size=window, position=position
        )
        cells = [(segment.text, segment.style) for segment in bar.segments]
        drawn.append((thumb_eighths(size, length, window, position), cells))
    pairs = list(zip(drawn, drawn[1:], strict=False))
    assert all(a[1] == b[1] for a, b in pairs if a[0] == b[0])
    assert any(a[0] != b[0] for a, b in pairs) and any(a[0] == b[0] for a, b in pairs)
