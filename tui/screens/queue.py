"""The queue screen: the agent's conversations, the unassigned ones, the inbox queues, longest
wait first; the agent takes unassigned work from here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static

from core.console.data import Event, QueueQuery, directory_changed
from tui.base import DeskAppBase, PaletteCommand, in_sight
from tui.bindings import QUEUE_SCREEN, bindings_for
from tui.text import clean_line
from tui.widgets.footer import KeyFooter
from tui.widgets.link_banner import LinkBanner
from tui.widgets.queue_list import QueueList
from tui.widgets.status_bar import StatusBar
from tui.workers import ReportsWorkerErrors

#: Named as the Status column names them (tui/format.py STATUS_WORDS): "needs reply", the
#: customer wrote last; "replied", an agent did. Each label, and its `QueueQuery.status`.
STATUS_FILTERS: tuple[tuple[str, str], ...] = (
    ("active", "active"),
    ("needs reply", "needs_reply"),
    ("replied", "replied"),
    ("closed", "closed"),
    ("all", "all"),
)
STATUS_LABELS = tuple(label for label, _ in STATUS_FILTERS)
TRUST_FILTERS: tuple[str | None, ...] = (None, "trusted", "untrusted")
#: Change-feed kinds that can move a row in some queue.
QUEUE_KINDS = ("item.created", "profile.")


def touches_queue(events: Sequence[Event]) -> bool:
    return any(e.kind.startswith(("conversation.", *QUEUE_KINDS)) for e in events)


def view_names(inboxes: Sequence[str]) -> list[str]:
    """What `QueueScreen(view=...)` and `gladdesk console --view` accept, in the `v` order."""
    return ["mine", "unassigned", *inboxes, "all"]


@dataclass(frozen=True, slots=True)
class View:
    """One queue the agent can look at: their own, the unassigned, an inbox, or everything."""

    label: str
    #: Its `QueueQuery.view` and `inbox`.
    view: str = "all"
    inbox: str | None = None


class QueueScreen(ReportsWorkerErrors, Screen[None]):
    """Queue list with view, status and trust filters."""

    BINDINGS = bindings_for(QUEUE_SCREEN)

    app: DeskAppBase  # type: ignore[assignment]

    @dataclass
    class Taken(Message):
        """The agent took a conversation."""

        conversation_id: int

    def __init__(self, *, view: str = "mine", status: str = "active") -> None:
        """`view`: one of `view_names`; `status`: a STATUS_FILTERS label."""
        super().__init__(id="queue-screen")
        self.views: list[View] = []
        self.view_number = 0
        self.status_number = STATUS_LABELS.index(status)
        self.trust_number = 0
        self._initial_view = view
        self._stale = False
        self._bar_total: int | None = None  # the count the filter bar shows

    def _views(self) -> list[View]:
        app = self.app
        return [
            View(f"Mine ({app.agent})", view="mine"),
            View("Unassigned", view="unassigned"),
            *(View(f"Inbox {name}", view="inbox", inbox=name) for name in app.inboxes),
            View("All"),
        ]

    def compose(self) -> ComposeResult:
        app = self.app
        self.views = self._views()
        names = view_names(app.inboxes)
        self.view_number = names.index(self._initial_view) if self._initial_view in names else 0
        yield Header(show_clock=False, icon="✉")
        yield LinkBanner(id="link-banner")
        yield Static(id="filter-bar")
        yield QueueList(app.data, self.current_filter(), id="queue")
        yield StatusBar(id="status-bar")
        yield KeyFooter()

    @property
    def queue(self) -> QueueList:
        return self.query_one(QueueList)

    def on_mount(self) -> None:
        self.title = "gladdesk"
        self.sub_title = f"queue · {self.app.agent}"
        self._show_filters()
        self.queue.reload()
        self.queue.focus()
        self.set_interval(15, self.queue.refresh_rows)
        self.app.refresh_status_bars()
        self.app.refresh_link_banners()

    # -- filters ---------------------------------------------------------------------------------

    def current_filter(self) -> QueueQuery:
        view = self.views[self.view_number]
        return QueueQuery(
            view=view.view,
            inbox=view.inbox,
            status=STATUS_FILTERS[self.status_number][1],
            trust=TRUST_FILTERS[self.trust_number],
        )

    def set_filters(
        self, *, view: int | None = None, status: int | None = None, trust: int | None = None
    ) -> None:
        if view is not None:
            self.view_number = view % len(self.views)
        if status is not None:
            self.status_number = status % len(STATUS_FILTERS)
        if trust is not None:
            self.trust_number = trust % len(TRUST_FILTERS)
        self.queue.set_filter(self.current_filter())
        self._show_filters()

    def action_next_view(self) -> None:
        self.set_filters(view=self.view_number + 1)

    def action_next_status(self) -> None:
        self.set_filters(status=self.status_number + 1)

    def action_next_trust(self) -> None:
        self.set_filters(trust=self.trust_number + 1)

    def _show_filters(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        parts = (
            ("View", clean_line(self.views[self.view_number].label, limit=80)),
            ("Status", STATUS_FILTERS[self.status_number][0]),
            ("Trust", TRUST_FILTERS[self.trust_number] or "any"),
        )
        for number, (name, value) in enumerate(parts):
            if number:
                text.append("  ·  ", "dim")
            text.append(f"{name}: ", "dim")
            text.append(value, "bold")
        queue = self.queue if self.is_mounted else None
        if queue is not None and queue.loaded:
            total = queue.total
            text.append(f"  ·  {total:,} conversation{'s' if total != 1 else ''}", "dim")
        text.append("  ·  longest wait first", "dim")
        self._bar_total = queue.total if queue is not None and queue.loaded else None
        # One line of fixed height (app.tcss): new text never resizes it, so no layout pass
        # (which would repaint the queue's scrollbars too).
        self.query_one("#filter-bar", Static).update(text, layout=False)

    @on(QueueList.Loaded)
    def _queue_loaded(self) -> None:
        if self.queue.total != self._bar_total:  # the count is all a live update can change
            self._show_filters()

    # -- live updates ------------------------------------------------------------------------------

    def desk_changed(self, events: Sequence[Event]) -> None:
        """One batch of the change feed: one background read of the rows on screen, however
        many events it holds; none while another screen covers this one (until it is back)."""
        if directory_changed(events):  # an inbox added: one more view, the current one kept
            current = self.views[self.view_number]
            self.views = self._views()
            self.view_number = self.views.index(current) if current in self.views else 0
            self._show_filters()
        if touches_queue(events):
            if in_sight(self):
                # The feed can still arrive while the app exits and the screen's children
                # are already gone: then there is nothing to refresh.
                for queue in self.query(QueueList):
                    queue.changed()
            else:
                self._stale = True

    def on_screen_resume(self) -> None:
        if self._stale:
            self._stale = False
            for queue in self.query(QueueList):
                queue.reload()

    # -- opening -----------------------------------------------------------------------------------

    @on(QueueList.ConversationSelected)
    def _open(self, message: QueueList.ConversationSelected) -> None:
        self.app.open_conversation(message.conversation_id)

    # -- taking work -------------------------------------------------------------------------------

    def action_take(self) -> None:
        row = self.queue.selected
        if row is None:
            self.notify("No conversation here to take.", severity="warning")
            return
        self._take(row.id)

    @work(thread=True, exit_on_error=False, group="queue-take")
    def _take(self, conversation_id: int) -> None:
        self.app.data.take(conversation_id)
        self.post_message(self.Taken(conversation_id))

    @on(Taken)
    def _taken(self, message: Taken) -> None:
        self.notify(f"Conversation #{message.conversation_id} is yours.", timeout=3)

    def palette_commands(self) -> list[PaletteCommand]:
        commands = [
            PaletteCommand(
                "Open conversation",
                "Open the highlighted conversation",
                self.queue.action_select,
                "queue.open",
            ),
            PaletteCommand(
                "Take conversation",
                "Assign the highlighted unassigned conversation to yourself",
                self.action_take,
                "queue.take",
            ),
        ]
        for number, view in enumerate(self.views):
            commands.append(
                PaletteCommand(
                    f"Queue: {clean_line(view.label, limit=80)}",
                    "Show this queue",
                    lambda n=number: self.set_filters(view=n),  # type: ignore[misc]
                    "queue.view",
                )
            )
        for number, (label, _) in enumerate(STATUS_FILTERS):
            commands.append(
                PaletteCommand(
                    f"Status: {label}",
                    "Filter the queue by conversation status",
                    lambda n=number: self.set_filters(status=n),  # type: ignore[misc]
                    "queue.status",
                )
            )
        for number, trust in enumerate(TRUST_FILTERS):
            commands.append(
                PaletteCommand(
                    f"Trust: {trust or 'any'}",
                    "Filter by the trust of the latest customer message",
                    lambda n=number: self.set_filters(trust=n),  # type: ignore[misc]
                    "queue.trust",
                )
            )
        return commands
