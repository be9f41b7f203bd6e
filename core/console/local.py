"""`ConsoleData` on a desk file or database: the console run where the desk is.

The agent's actions and conversation reads go through an `Engine` (one transaction each, as
every caller of the desk); the queue, timeline and search pages are the store's keyset reads.
What keeps the console quick on a big desk:

- the page the agent scrolls to is read on the console's own connection;
- the live refresh of the queue reads on a connection of its own (`queue_snapshot`), so the
  agent's page reads never wait on it, and its directory and pages are one snapshot;
- `changed()` asks the desk whether another connection committed (`Desk.data_version()`: no
  table read) on a connection of the tail's own, and `changes_after` reads the change feed
  there, one batch a read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from core.console.data import (
    LINK_UP,
    QUEUE_STATUSES,
    AgentEntry,
    ConversationView,
    Event,
    Link,
    MessageHit,
    PastConversation,
    ProfileHit,
    QueueDirectory,
    QueuePage,
    QueueQuery,
    QueueRow,
    QueueSnapshot,
    TimelinePage,
    decode_cursor,
    rows_page,
)
from core.cursors import start_cursor
from core.engine import Engine
from core.errors import Conflict, NotFound
from core.report import AuthReport
from core.report import authentication_report as report_of
from core.store import Desk
from core.store.directory import agents, inboxes
from core.store.profiles import search_profiles
from core.store.queue import QueueFilter, QueueIndex, queue_index, queue_page
from core.store.search import search_messages
from core.store.timeline import timeline_page

if TYPE_CHECKING:
    from core.clock import Clock


def check_agent(desk: Desk, agent: str) -> None:
    """NotFound for a handle the desk does not know, Conflict for a disabled one: each names
    the command that fixes it."""
    entries = agents(desk)
    if agent not in [a.handle for a in entries]:
        handles = [a.handle for a in entries if not a.disabled]
        raise NotFound(
            f"no agent {agent!r} on this desk (known: {', '.join(handles) or 'none'});"
            " pass one of them to --agent, or add one: gladdesk agents add HANDLE --name NAME"
        )
    if any(a.handle == agent and a.disabled for a in entries):
        raise Conflict(
            f"agent {agent!r} is disabled on this desk; to work again they need:"
            f" gladdesk agents enable {agent}"
        )


def directory_of(index: QueueIndex) -> QueueDirectory:
    """The store's page directory with cursors: page `n` starts at its anchor."""
    return QueueDirectory(
        total=index.total, every=index.every, starts=tuple(map(start_cursor, index.anchors))
    )


class LocalConsoleData:
    """The console's data on a `Desk` it owns (closed by `close()`), as agent `agent`."""

    def __init__(self, desk: Desk, agent: str) -> None:
        self.desk = desk
        self.engine = Engine.for_desk(desk)
        self.agent = agent
        self.agent_id = self.engine.agent_id(agent)
        self.clock: Clock = desk.clock
        self.server: str | None = None
        self._filters: dict[QueueQuery, QueueFilter] = {}
        #: The queue refresh's connection, and the change-feed tail's: opened when first used.
        self._queue_reader: Desk | None = None
        self._tail: Desk | None = None
        self._reader_lock = threading.Lock()
        self._tail_lock = threading.Lock()
        self._version: int | None = None
        self._closed = False

    @classmethod
    def open(
        cls, location: str | Path, *, agent: str, clock: Clock | None = None
    ) -> LocalConsoleData:
        """The desk at `location` (a file or a `postgresql://` URL) for `agent`, who must be
        on it and enabled. Errors raise before anything is left open."""
        desk = Desk.open(location, clock=clock, create=False)
        try:
            check_agent(desk, agent)
            return cls(desk, agent)
        except BaseException:
            desk.close()
            raise

    def _second(self) -> Desk:
        """Another connection to the same desk."""
        return Desk.open(self.desk.location, clock=self.clock, create=False)

    # -- who and where ---------------------------------------------------------------------------

    def me(self) -> AgentEntry:
        found = next((a for a in agents(self.desk) if a.handle == self.agent), None)
        if found is None:
            raise NotFound(f"no agent {self.agent!r} on this desk")
        return found

    def agents(self) -> list[AgentEntry]:
        return agents(self.desk)

    def inboxes(self) -> list[str]:
        return [name for _, name in inboxes(self.desk)]

    # -- the queue -------------------------------------------------------------------------------

    def _filter(self, query: QueueQuery) -> QueueFilter:
        found = self._filters.get(query)
        if found is None:
            if not isinstance(query, QueueQuery):
                raise TypeError(f"expected a QueueQuery, not {type(query).__name__}")
            found = QueueFilter(
                agent_id=self.agent_id if query.view == "mine" else None,
                inbox_id=self.engine.inbox_id(query.inbox) if query.inbox is not None else None,
                unassigned=query.view == "unassigned",
                statuses=QUEUE_STATUSES[query.status],
                trust=query.trust,
            )
            self._filters[query] = found
        return found

    def queue_directory(self, query: QueueQuery, *, every: int) -> QueueDirectory:
        return directory_of(queue_index(self.desk, self._filter(query), every=every))

    def queue_page(
        self, query: QueueQuery, *, after: str | None = None, limit: int = 64
    ) -> QueuePage:
        key = decode_cursor(after) if after is not None else None
        return rows_page(queue_page(self.desk, self._filter(query), after=key, limit=limit), limit)

    def queue_snapshot(
        self,
        query: QueueQuery,
        *,
        directory: QueueDirectory | None,
        pages: Iterable[int],
        every: int,
    ) -> QueueSnapshot:
        wanted = self._filter(query)
        with self._reader_lock:
            if self._queue_reader is None:
                self._queue_reader = self._second()
            return _snapshot(self._queue_reader, wanted, directory, pages, every)

    # -- a conversation --------------------------------------------------------------------------

    def conversation(self, conversation_id: int) -> ConversationView:
        return self.engine.conversation(conversation_id)

    def timeline(
        self,
        conversation_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> TimelinePage:
        status, items = timeline_page(
            self.desk, conversation_id, before_id=before, after_id=after, limit=limit
        )
        return TimelinePage(status, tuple(items))

    def past_conversations(
        self, profile_id: int, *, exclude: int | None = None
    ) -> list[PastConversation]:
        return self.engine.past_conversations(profile_id, exclude=exclude)

    # -- search and reports ----------------------------------------------------------------------

    def search_customers(self, text: str, *, limit: int) -> list[ProfileHit]:
        return search_profiles(self.desk, text, limit=limit)

    def search_messages(self, text: str, *, limit: int) -> list[MessageHit]:
        return search_messages(self.desk, text, limit=limit)

    def authentication_report(self) -> AuthReport:
        # On a connection of its own: the report walks the whole desk.
        with self._second() as desk:
            return report_of(desk)

    # -- the agent's actions ---------------------------------------------------------------------

    def reply(self, conversation_id: int, body: str) -> int:
        return self.engine.reply(conversation_id, self.agent, body)

    def send_login_prompt(self, conversation_id: int) -> int:
        return self.engine.send_login_prompt(conversation_id, self.agent)

    def take(self, conversation_id: int) -> None:
        self.engine.take(conversation_id, self.agent)

    def transfer(
        self, conversation_id: int, *, to_agent: str | None = None, to_inbox: str | None = None
    ) -> None:
        self.engine.transfer(conversation_id, self.agent, to_agent=to_agent, to_inbox=to_inbox)

    def close_conversation(self, conversation_id: int, *, force: bool = False) -> None:
        self.engine.close(conversation_id, self.agent, force=force)

    def reopen_conversation(self, conversation_id: int) -> None:
        self.engine.reopen(conversation_id, self.agent)

    # -- live changes ----------------------------------------------------------------------------

    def last_change_id(self) -> int:
        return self.desk.last_event_id()

    def _tail_desk(self) -> Desk:
        if self._tail is None:
            self._tail = self._second()
        return self._tail

    def changed(self) -> bool:
        with self._tail_lock:
            version = self._tail_desk().data_version()
            if version == self._version:
                return False
            # Taken before the changes are read: a commit landing meanwhile moves it again.
            self._version = version
            return True

    def changes_after(self, after_id: int, *, limit: int) -> list[Event]:
        with self._tail_lock:
            events = self._tail_desk().events_after(after_id, limit=limit)
        # `gladdesk apps / agents / inboxes` or `config apply` in another process: the
        # engine's cached directory is read again.
        self.engine.follow(events)
        return events

    def link(self) -> Link:
        return LINK_UP

    def close(self) -> None:
        """Close every connection; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for desk in (self._tail, self._queue_reader, self.desk):
            if desk is not None:
                desk.close()


def _snapshot(
    desk: Desk,
    wanted: QueueFilter,
    directory: QueueDirectory | None,
    pages: Iterable[int],
    every: int,
) -> QueueSnapshot:
    rows: dict[int, tuple[QueueRow, ...]] = {}
    seconds: float | None = None
    with desk.reading():
        if directory is None:
            started = time.perf_counter()
            directory = directory_of(queue_index(desk, wanted, every=every))
            seconds = time.perf_counter() - started
        for page in pages:
            start = directory.start(page)
            if start is not None:
                key = decode_cursor(start)
                rows[page] = tuple(queue_page(desk, wanted, after=key, limit=every))
    return QueueSnapshot(directory, rows, seconds)
