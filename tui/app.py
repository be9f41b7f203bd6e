"""The agent console: a thin Textual app over the console's data interface
(`core.console.ConsoleData`).

`make_app()` builds it on a desk file or database (`core.console.local`, the one place in the
console that does) the same way for the CLI, the demo and the tests. The app follows the
desk's changes: every tick it asks the data whether anything may have changed
(`ConsoleData.changed()`: locally a counter of the file's commits, no table read) and only
then reads the new changes in a worker, one read at a time, and hands the batch to the
screens in one call: a burst of changes costs the screens one refresh, and an idle desk costs
next to nothing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from textual import on, work
from textual.app import App
from textual.message import Message
from textual.worker import Worker, WorkerState

from core.clock import Clock
from core.console.data import (
    LINK_ERRORS,
    ConsoleData,
    Event,
    Link,
    MessageHit,
    directory_changed,
)
from core.errors import DeskError, NotFound
from tui.base import DeskAppBase, PaletteCommand
from tui.bindings import DESK_APP, bindings_for
from tui.commands import DeskCommands
from tui.keymap import load_keymap
from tui.screens.conversation import ConversationScreen
from tui.screens.dialogs import HelpKey, HelpScreen, SearchScreen
from tui.screens.queue import STATUS_LABELS, QueueScreen, view_names
from tui.screens.reports import ReportsScreen
from tui.text import control_chars_mode, use_control_chars
from tui.widgets.link_banner import LinkBanner
from tui.widgets.status_bar import StatusBar

#: How often the tail asks whether the desk changed: locally `data_version`, which reads no
#: table (SQLite: a counter of the file's commits; PostgreSQL: of NOTIFY wake-ups heard), so
#: asking often costs next to nothing and a change shows within ~25 ms (bench/backends.py).
TAIL_INTERVAL_S = 0.025
#: The most change-feed rows read at once; a longer backlog is read on the next ticks.
FEED_BATCH = 1000


class SimulatedCustomers(Protocol):
    """Simulated customers running beside the console (see tui/demo.py)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def toggle_pause(self) -> bool: ...
    @property
    def status_line(self) -> str: ...


@dataclass
class DeskChanged(Message):
    """One read of the change feed: its new rows (maybe none)."""

    events: tuple[Event, ...]
    #: False when the read stopped short (a full batch, or an error): read again next tick
    #: whatever `changed()` says.
    complete: bool = True


class DeskApp(DeskAppBase):
    """The console for one agent on one desk."""

    CSS_PATH = "app.tcss"
    TITLE = "gladdesk"
    COMMANDS = App.COMMANDS | {DeskCommands}
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = bindings_for(DESK_APP)

    def __init__(
        self,
        data: ConsoleData,
        *,
        customers: SimulatedCustomers | None = None,
        keymap: dict[str, str] | None = None,
        tail_interval: float = TAIL_INTERVAL_S,
        queue_view: str = "mine",
        queue_status: str = "active",
    ) -> None:
        super().__init__()
        self.queue_view = queue_view
        self.queue_status = queue_status
        self.data = data
        self.clock: Clock = data.clock
        self.agent = data.agent
        self.customers = customers
        self.keymap = keymap or {}
        self.tail_interval = tail_interval
        self.inboxes = data.inboxes()
        self.agent_name = data.me().name
        self.drafts: dict[int, str] = {}
        self.last_event_id = data.last_change_id()
        #: How the desk is reached (a console over the network loses and finds it again).
        self.link = data.link()
        self._link_shown_s = 0
        #: Why the session ended, when the desk signed it out (printed at exit).
        self.signed_out: str | None = None
        self._told_disabled = False
        self._stop_tail = threading.Event()
        self._reading_feed = False
        #: The last read stopped short: read again whatever `changed()` says.
        self._feed_backlog = False
        # What the tail did, for tests and bench/feed.py (see feed_stats()).
        self.feed_polls = 0
        self.feed_reads = 0
        self.feed_batches = 0
        self.events_seen = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        self.push_screen(QueueScreen(view=self.queue_view, status=self.queue_status))
        self.set_interval(self.tail_interval, self.poll_feed, name="change feed")
        if self.customers is not None:
            self.customers.start()
            self.set_interval(1.0, self.refresh_status_bars)

    def on_unmount(self) -> None:
        self._stop_tail.set()
        if self.customers is not None:
            self.customers.stop()

    # -- the change feed ---------------------------------------------------------------------------

    def poll_feed(self) -> bool:
        """One tick of the tail: start a read of the change feed if the desk changed.

        The check runs here, on the UI thread, never while a read is under way (locally on a
        connection of the tail's own: it never waits on the console's reads and actions).
        Returns whether a read was started.
        """
        self.feed_polls += 1
        self._watch_link()
        if self._reading_feed or self._stop_tail.is_set():
            return False
        # `changed()` is asked every tick, a backlog or not: it notes what it has seen.
        if not self.data.changed() and not self._feed_backlog:
            return False
        self._feed_backlog = False
        self._reading_feed = True
        self.feed_reads += 1
        self._read_feed(self.last_event_id)
        return True

    @work(thread=True, exit_on_error=False, group="tail", name="read change feed")
    def _read_feed(self, after: int) -> None:
        events: list[Event] = []
        complete = False
        try:
            events = self.data.changes_after(after, limit=FEED_BATCH)
            complete = len(events) < FEED_BATCH
        except Exception:
            if self._stop_tail.is_set():
                return  # the console is closing: its data was closed under the read
            raise
        finally:
            # Posted even when the read failed (the error reaches report_worker): the tail
            # must not stay marked busy.
            self.post_message(DeskChanged(tuple(events), complete))

    @on(DeskChanged)
    def _desk_changed(self, message: DeskChanged) -> None:
        self._reading_feed = False
        if not message.complete:
            self._feed_backlog = True
        events = [e for e in message.events if e.id > self.last_event_id]
        if not events:
            return
        self.last_event_id = events[-1].id
        self.events_seen += len(events)
        self.feed_batches += 1
        if directory_changed(events):
            # `gladdesk apps / agents / inboxes` or `config apply` changed the desk
            self.inboxes = self.data.inboxes()
            self._check_still_enabled()
        for screen in self.screen_stack:
            handler = getattr(screen, "desk_changed", None)
            if handler is not None:
                handler(events)

    # -- the link to the desk ----------------------------------------------------------------------

    def _watch_link(self) -> None:
        """Follow the data's link: a banner while it is down (its count moving each second),
        gone when it is back; the session ends when the token stopped working."""
        link = self.data.link()
        now_s = int(time.time())
        if link == self.link and (link.state != "down" or now_s == self._link_shown_s):
            return
        was = self.link
        self.link = link
        self._link_shown_s = now_s
        self.refresh_link_banners()
        if link.state == "ended":
            self._stop_tail.set()
            self.signed_out = self._signed_out_words(link)
            self.exit(return_code=1, message=self.signed_out)
        elif link.state == "up" and was.state == "down":
            self.notify("Connected to the desk again; caught up.", title="Back", timeout=4)

    def _signed_out_words(self, link: Link) -> str:
        """What the terminal shows when the session ends: why, and every unsent draft, so
        nothing typed is lost."""
        lines = [f"gladdesk console: signed out: {link.detail}"]
        drafts = {number: text for number, text in self.drafts.items() if text.strip()}
        if drafts:
            lines.append("Unsent drafts:")
            lines += [f"  #{number}: {text}" for number, text in sorted(drafts.items())]
        return "\n".join(lines)

    def refresh_link_banners(self) -> None:
        now_ms = time.time_ns() // 1_000_000
        for screen in self.screen_stack:
            for banner in screen.query(LinkBanner):
                banner.show(self.link, now_ms)

    def feed_stats(self) -> dict[str, int]:
        """What the tail has done so far: ticks, reads of the feed, batches handed to the
        screens, events in them."""
        return {
            "polls": self.feed_polls,
            "reads": self.feed_reads,
            "batches": self.feed_batches,
            "events": self.events_seen,
        }

    def _check_still_enabled(self) -> None:
        """Tell an agent whose handle was just disabled: they keep their open chats here
        until they quit, but get no new ones and cannot open the console again."""
        try:
            me = self.data.me()
        except DeskError:
            return
        if me.disabled and not self._told_disabled:
            self._told_disabled = True
            self.notify(
                "Your agent account was disabled: no new chats come to you, and the console"
                " will not open again. Finish or transfer your open chats.",
                title="Disabled",
                severity="warning",
                timeout=15,
            )
        elif not me.disabled:
            self._told_disabled = False

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.report_worker(event)

    def report_worker(self, event: Worker.StateChanged) -> None:
        """The one place worker errors are reported: a DeskError is the user's, others a bug.

        Screens and widgets forward their workers' state here (tui/workers.py).
        """
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, LINK_ERRORS) and self.data.link().state != "up":
            return  # the link banner says it: no toast for each read that could not be made
        if isinstance(error, DeskError):
            self.notify(str(error), title="Not done", severity="error", timeout=6)
        else:
            self.log.error(f"worker {event.worker.name} failed: {error!r}")
            self.notify(f"Unexpected error: {error!r}", severity="error", timeout=10)

    # -- app-wide actions ----------------------------------------------------------------------------

    def open_conversation(self, conversation_id: int, *, at_item: int | None = None) -> None:
        """Show a conversation (replacing one already open), at `at_item` if given."""
        while isinstance(self.screen, ConversationScreen | SearchScreen | HelpScreen):
            self.pop_screen()
        self.push_screen(ConversationScreen(conversation_id, at_item=at_item))

    def action_search(self) -> None:
        def picked(hit: Any) -> None:
            if hit is None:
                return
            if isinstance(hit, MessageHit):
                self.open_conversation(hit.conversation_id, at_item=hit.item_id)
                return
            if hit.latest_conversation_id is None:
                self.notify(f"{hit.name} has no conversation yet.", severity="warning")
                return
            self.open_conversation(hit.latest_conversation_id)

        self.push_screen(SearchScreen(self.data), picked)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        keys = [
            HelpKey(self.get_key_display(binding), binding.description or binding.action)
            for _key, (_node, binding, enabled, _tooltip) in self.screen.active_bindings.items()
            if binding.show or binding.id in ("queue.open",)
        ]
        unique: list[HelpKey] = []
        for key in keys:
            if all(key.description != u.description for u in unique):
                unique.append(key)
        unique.append(HelpKey("ctrl+p", "Command palette"))
        unique.append(HelpKey("ctrl+q", "Quit"))
        self.push_screen(HelpScreen(unique))

    def action_reports(self) -> None:
        if isinstance(self.screen, ReportsScreen):
            return
        # Read in the screen's worker thread (locally on a connection of its own).
        self.push_screen(ReportsScreen(self.data.authentication_report))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_feed":
            return self.customers is not None
        return True

    def action_toggle_feed(self) -> None:
        if self.customers is None:
            return
        paused = self.customers.toggle_pause()
        self.notify("Feed paused" if paused else "Feed running", timeout=2)
        self.refresh_status_bars()

    def refresh_status_bars(self) -> None:
        customers_line = self.customers.status_line if self.customers is not None else None
        server = self.data.server
        where = f"on {server}" if server else ""
        for screen in self.screen_stack:
            for bar in screen.query(StatusBar):
                bar.show(self.agent, self.agent_name, customers_line, note=where)

    def palette_commands(self) -> list[PaletteCommand]:
        commands = [
            PaletteCommand(
                "Search customers",
                "Find a customer by name, email or phone",
                self.action_search,
                "desk.search",
            ),
            PaletteCommand("Help", "Keys and what the marks mean", self.action_help, "desk.help"),
            PaletteCommand(
                "Authentication report",
                "Trust per day, inbox and path; median time to authenticate; rejected tokens",
                self.action_reports,
                "desk.reports",
            ),
        ]
        if self.customers is not None:
            commands.append(
                PaletteCommand(
                    "Pause or resume the feed",
                    "The simulated customers",
                    self.action_toggle_feed,
                    "feed.pause",
                )
            )
        return commands


def make_app(
    db_path: str | Path,
    *,
    agent: str,
    clock: Clock | None = None,
    customers: SimulatedCustomers | None = None,
    config_path: str | Path | None = None,
    tail_interval: float = TAIL_INTERVAL_S,
    queue_view: str = "mine",
    queue_status: str = "active",
) -> DeskApp:
    """The console on the desk at `db_path`, for `agent`. Errors raise before anything starts.

    `queue_view` ("mine", "unassigned", an inbox name or "all") and `queue_status` (active,
    needs reply, replied, closed, all) pick the queue shown first. Control characters in
    customer text show as `$GLADDESK_CONTROL_CHARS` or the locale says (tui/text.py).
    """
    # The one place the console opens a desk itself: its screens see only `ConsoleData`.
    from core.console.local import LocalConsoleData

    keymap = load_keymap(Path(config_path) if config_path is not None else None)
    data = LocalConsoleData.open(db_path, agent=agent, clock=clock)
    return console_app(
        data,
        keymap=keymap,
        customers=customers,
        tail_interval=tail_interval,
        queue_view=queue_view,
        queue_status=queue_status,
    )


def make_remote_app(
    url: str,
    token: str,
    *,
    agent: str,
    config_path: str | Path | None = None,
    queue_view: str = "mine",
    queue_status: str = "active",
    transport: Any = None,
) -> DeskApp:
    """The console on the desk served at `url` (its agent API), signed in with `token` as
    `agent`. Errors (unreachable, refused token, another agent's token) raise before
    anything starts."""
    from core.console.remote import RemoteConsoleData

    keymap = load_keymap(Path(config_path) if config_path is not None else None)
    data = RemoteConsoleData.open(url, token, agent=agent, transport=transport)
    return console_app(data, keymap=keymap, queue_view=queue_view, queue_status=queue_status)


def console_app(
    data: ConsoleData,
    *,
    keymap: dict[str, str] | None = None,
    customers: SimulatedCustomers | None = None,
    tail_interval: float = TAIL_INTERVAL_S,
    queue_view: str = "mine",
    queue_status: str = "active",
) -> DeskApp:
    """The console on `data` (which it closes if this raises)."""
    use_control_chars(control_chars_mode())
    try:
        views = view_names(data.inboxes())
        if queue_view not in views:
            raise NotFound(f"no queue view {queue_view!r} (known: {', '.join(views)})")
        if queue_status not in STATUS_LABELS:
            known = ", ".join(STATUS_LABELS)
            raise NotFound(f"no queue status {queue_status!r} (known: {known})")
        return DeskApp(
            data,
            customers=customers,
            keymap=keymap,
            tail_interval=tail_interval,
            queue_view=queue_view,
            queue_status=queue_status,
        )
    except BaseException:
        data.close()
        raise


def run_app(app: DeskApp) -> int:
    """Run the console in this terminal until the agent quits (or is signed out); its exit
    code."""
    try:
        app.run()
    finally:
        app.data.close()
    return app.return_code or 0


def run_console(
    db_path: str | Path,
    *,
    agent: str,
    config_path: str | Path | None = None,
    queue_view: str = "mine",
) -> int:
    """`gladdesk console`: run the console on a desk in this terminal until the agent quits."""
    return run_app(make_app(db_path, agent=agent, config_path=config_path, queue_view=queue_view))
