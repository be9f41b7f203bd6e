"""The console's one data interface: everything the agent console shows and does, as one
`ConsoleData` protocol and plain frozen dataclasses (docs/architecture.md#the-consoles-data).

The console (`tui/`) reaches the desk only through this: `core.console.local.LocalConsoleData`
implements it on a desk file or database (an `Engine` and the store's keyset reads); a remote
backend implements it over the agent API (`/agent/v1`, docs/agent-api.md) and its event
stream. Every value here is made of numbers, strings, booleans, None and tuples of them, so a
remote backend builds them from the API's JSON field for field. Times are epoch milliseconds.

Queue cursors are opaque strings: pass back what a page or a directory gave. Errors are the
desk's own (`core.errors`): a refused action raises what the engine raises, bad input is
`InvalidQuery`, a missing thing `NotFound`; nothing changes when one is raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from core.cursors import encode_cursor, parse_cursor
from core.engine.directory import directory_changed
from core.engine.hooks import MAX_MESSAGE_CHARS
from core.errors import DeskError
from core.models import ConversationView, PastConversation, RejectionNote, TimelineItem
from core.store.desk import Event
from core.store.directory import AgentEntry
from core.store.profiles import ProfileHit
from core.store.queue import MAX_PAGE, InvalidQuery, QueueKey, QueueRow
from core.store.search import HIT_END, HIT_START, MessageHit

if TYPE_CHECKING:
    from core.clock import Clock
    from core.report import AuthReport

__all__ = [
    "HIT_END",
    "HIT_START",
    "MAX_MESSAGE_CHARS",
    "MAX_PAGE",
    "QUEUE_STATUSES",
    "QUEUE_VIEWS",
    "TRUST_FILTERS",
    "AgentEntry",
    "ConsoleData",
    "ConversationView",
    "Event",
    "LINK_ERRORS",
    "LINK_UP",
    "InvalidQuery",
    "Link",
    "MessageHit",
    "PastConversation",
    "ProfileHit",
    "QueueDirectory",
    "QueuePage",
    "QueueQuery",
    "QueueRow",
    "QueueSnapshot",
    "RejectionNote",
    "SignedOut",
    "TimelineItem",
    "TimelinePage",
    "Unreachable",
    "decode_cursor",
    "directory_changed",
    "encode_cursor",
]

#: The queues an agent looks at: their own, the unassigned, one inbox's (with `inbox`), every one.
QUEUE_VIEWS = ("mine", "unassigned", "inbox", "all")
#: The status filters by name (the agent API's `status=`), and the statuses each one shows.
QUEUE_STATUSES: dict[str, tuple[str, ...]] = {
    "active": ("OPEN", "WAITING"),
    "needs_reply": ("OPEN",),
    "replied": ("WAITING",),
    "closed": ("CLOSED",),
    "all": ("OPEN", "WAITING", "CLOSED"),
}
#: The trust filters: the latest customer message was trusted, or was not (or there is none).
TRUST_FILTERS = ("trusted", "untrusted")
#: The longest inbox name a query may carry (inbox names are shorter: core/setup/fields.py).
MAX_INBOX_CHARS = 40


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """Which queue to show: the agent API's `GET /agent/v1/queue` parameters, by name."""

    view: str = "mine"
    #: The inbox of the `inbox` view (and only of it).
    inbox: str | None = None
    status: str = "active"
    trust: str | None = None

    def __post_init__(self) -> None:
        if self.view not in QUEUE_VIEWS:
            raise InvalidQuery(
                f"queue: unknown view {self.view!r} (known: {', '.join(QUEUE_VIEWS)})"
            )
        if (self.view == "inbox") != (self.inbox is not None):
            raise InvalidQuery("queue: give an inbox name with the inbox view, and only then")
        if self.inbox is not None and (
            not isinstance(self.inbox, str) or not 1 <= len(self.inbox) <= MAX_INBOX_CHARS
        ):
            raise InvalidQuery(f"queue: an inbox name is 1 to {MAX_INBOX_CHARS} characters")
        if self.status not in QUEUE_STATUSES:
            raise InvalidQuery(
                f"queue: unknown status {self.status!r} (known: {', '.join(QUEUE_STATUSES)})"
            )
        if self.trust is not None and self.trust not in TRUST_FILTERS:
            raise InvalidQuery(
                f"queue: trust must be one of {', '.join(TRUST_FILTERS)}, not {self.trust!r}"
            )


@dataclass(frozen=True, slots=True)
class QueuePage:
    """Queue rows in queue order (longest-waiting customers first)."""

    rows: tuple[QueueRow, ...]
    #: The cursor of the page after this one; None when this page was not full (no more
    #: rows). A full last page may be followed by an empty one.
    next: str | None


@dataclass(frozen=True, slots=True)
class QueueDirectory:
    """How many rows a queue has and where each page of `every` rows starts: row `n` is one
    page read away (`queue_page(query, after=starts[n // every])`). Its count and starts are
    those of one moment; pages read later from them show the queue as it is then."""

    total: int
    every: int
    starts: tuple[str, ...] = field(default_factory=tuple)

    def start(self, page: int) -> str | None:
        """The cursor page `page` starts after; None when there is no such page."""
        return self.starts[page] if 0 <= page < len(self.starts) else None


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """What one background read of the queue found: its directory and some of its pages."""

    directory: QueueDirectory
    #: Rows by page number (of `directory`); a page past the end is left out.
    pages: dict[int, tuple[QueueRow, ...]]
    #: Seconds the directory took to read; None when it was given, not read.
    directory_seconds: float | None


#: The link states: `up` (changes arrive), `down` (lost: trying again; the console keeps its
#: drafts and shows what it has), `ended` (signed out: the token was revoked or replaced).
LINK_STATES = ("up", "down", "ended")


@dataclass(frozen=True, slots=True)
class Link:
    """How the console's data reaches the desk now. A local desk is always `up`."""

    state: str = "up"
    #: What happened, for the agent (why it is down, why the session ended).
    detail: str = ""
    #: When it went down or ended (the wall clock, epoch ms); None while up.
    since_ms: int | None = None
    #: Tries to reconnect since it went down.
    attempts: int = 0


LINK_UP = Link()


class Unreachable(DeskError):
    """The desk's server cannot be reached, or did not answer as the agent API does (a
    console over the network); the message says whether anything was sent."""

    code = "unreachable"


class SignedOut(DeskError):
    """The agent's token no longer opens the desk: revoked, replaced, or never valid."""

    code = "unauthorized"


#: Errors about the link rather than the desk's answer: while the link is down or ended,
#: the console's banner says it, not a notice for each read.
LINK_ERRORS = (Unreachable, SignedOut)


@dataclass(frozen=True, slots=True)
class TimelinePage:
    """Timeline items, oldest first, and the conversation's status when they were read (the
    trusted glyph of each customer message follows it)."""

    status: str
    items: tuple[TimelineItem, ...]


class ConsoleData(Protocol):
    """The desk as one agent's console sees it. Calls may block (a read, an action): the
    console makes them from worker threads, except `queue_page` for a page scrolled to and
    `changed`, which are meant to be quick. `changed` and `changes_after` are called by one
    tail, never at the same time."""

    #: The handle of the agent this console works as.
    agent: str
    #: The desk's time (waiting times are counted on it).
    clock: Clock
    #: The desk's server, for the status bar, when the desk is reached over the network;
    #: None for a desk file or database opened here.
    server: str | None

    # -- who and where ---------------------------------------------------------------------------

    def me(self) -> AgentEntry:
        """The agent's own record, as of now: name, availability, load, disabled."""
        ...

    def agents(self) -> list[AgentEntry]:
        """Every agent, by handle, with their load and availability (transfer targets)."""
        ...

    def inboxes(self) -> list[str]:
        """The inbox names, in creation order (queue views and transfer targets)."""
        ...

    # -- the queue -------------------------------------------------------------------------------

    def queue_directory(self, query: QueueQuery, *, every: int) -> QueueDirectory:
        """Count the queue and note where each page of `every` rows starts."""
        ...

    def queue_page(
        self, query: QueueQuery, *, after: str | None = None, limit: int = 64
    ) -> QueuePage:
        """Up to `limit` rows from the head, or after a cursor (of a page or a directory)."""
        ...

    def queue_snapshot(
        self,
        query: QueueQuery,
        *,
        directory: QueueDirectory | None,
        pages: Iterable[int],
        every: int,
    ) -> QueueSnapshot:
        """Pages `pages` of `directory`, reading the directory first when it is None; as one
        snapshot where the backend can (the console's live refresh: one read a batch)."""
        ...

    # -- a conversation --------------------------------------------------------------------------

    def conversation(self, conversation_id: int) -> ConversationView:
        """The conversation with the banner's facts and its sessions' rejected tokens."""
        ...

    def timeline(
        self,
        conversation_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> TimelinePage:
        """Up to `limit` items: the latest, or those just before an item id (older), or just
        after one (newer)."""
        ...

    def past_conversations(
        self, profile_id: int, *, exclude: int | None = None
    ) -> list[PastConversation]:
        """The customer's conversations, newest first, but `exclude` (the profile pane)."""
        ...

    # -- search and reports ----------------------------------------------------------------------

    def search_customers(self, text: str, *, limit: int) -> list[ProfileHit]:
        """Customers by name, email or phone, with their latest conversation."""
        ...

    def search_messages(self, text: str, *, limit: int) -> list[MessageHit]:
        """Messages by their words (and conversations by tag), best first."""
        ...

    def authentication_report(self) -> AuthReport:
        """The authentication report (docs/reports.md) over every day of the desk."""
        ...

    # -- the agent's actions ---------------------------------------------------------------------

    def reply(self, conversation_id: int, body: str) -> int:
        """Send a reply; its item id."""
        ...

    def send_login_prompt(self, conversation_id: int) -> int:
        """Send the app's login link; its item id."""
        ...

    def take(self, conversation_id: int) -> None:
        """Assign an unassigned conversation to this agent."""
        ...

    def transfer(
        self, conversation_id: int, *, to_agent: str | None = None, to_inbox: str | None = None
    ) -> None:
        """Hand a conversation to another agent and/or inbox."""
        ...

    def close_conversation(self, conversation_id: int, *, force: bool = False) -> None:
        """Close it; a customer waiting for a reply needs `force`."""
        ...

    def reopen_conversation(self, conversation_id: int) -> None:
        """Reopen a closed conversation."""
        ...

    # -- live changes ----------------------------------------------------------------------------

    def last_change_id(self) -> int:
        """The id of the newest change now: follow the changes from there."""
        ...

    def changed(self) -> bool:
        """Whether anything may have changed since the last call (True on the first): a
        cheap check made many times a second, reading no rows."""
        ...

    def changes_after(self, after_id: int, *, limit: int) -> list[Event]:
        """At most `limit` changes after `after_id`, oldest first."""
        ...

    def link(self) -> Link:
        """How the desk is reached now (asked on every tick of the tail: no I/O)."""
        ...

    def close(self) -> None:
        """Let go of the desk (connections, streams)."""
        ...


# -- cursors ----------------------------------------------------------------------------------

#: The largest number a cursor may carry: the store's integers are 64-bit.
MAX_CURSOR_NUMBER = (1 << 63) - 1


def decode_cursor(cursor: object) -> QueueKey:
    """The queue key a cursor stands for; InvalidQuery for anything else."""
    key = parse_cursor(cursor, largest=MAX_CURSOR_NUMBER)
    if key is None:
        raise InvalidQuery("queue: not a cursor from this desk; pass one a page gave, or none")
    return key


def rows_page(rows: Sequence[QueueRow], limit: int) -> QueuePage:
    """A page of `rows` read with `limit`: its next cursor when it is full."""
    return QueuePage(tuple(rows), encode_cursor(rows[-1].key) if len(rows) >= limit else None)
