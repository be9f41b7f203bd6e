"""Reads at scale for the agent console: queue pages, timeline pages, profile search.

Every page is a keyset read over an index, never `OFFSET`, so its cost follows the page size,
not the table size:

- queue pages walk `(assignee_id | inbox_id | -, status, queue_key, id)`, one range per status,
  merged in key order (a row-value comparison `(queue_key, id) > (?, ?)` bounds each range);
- timeline pages walk `items (conversation_id, id)` from either end;
- profile search uses the email/phone primary keys and the `profiles (name COLLATE NOCASE)`
  index for prefixes.

Queue keys order the queue: longest-waiting customers first (see `store.queue_key`).
"""

from __future__ import annotations

import heapq
import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from core.errors import DeskError
from core.models import Glyph, glyph, identity_state_at
from core.store.desk import Desk
from core.store.schema import CONVERSATION_STATUSES

#: The key of one queue row: its position in queue order.
QueueKey = tuple[int, int]  # (queue_key, id)

TRUST_FILTERS = ("trusted", "untrusted")
OPEN_STATUSES = ("OPEN", "WAITING")
MAX_PAGE = 1000
MAX_SEARCH_CHARS = 320


class InvalidQuery(DeskError):
    code = "invalid"


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Which conversations a queue shows. `None` means no restriction on that column."""

    agent_id: int | None = None
    inbox_id: int | None = None
    #: Only conversations no agent has (queued for a free agent, held, or sent to an inbox).
    unassigned: bool = False
    statuses: tuple[str, ...] = OPEN_STATUSES
    #: "trusted": the latest customer message was trusted; "untrusted": it was not (or none).
    trust: str | None = None
    #: Only what this agent may see (the agent API's rule, docs/agent-api.md#permissions):
    #: conversations assigned to them, and unassigned ones of `visible_inboxes`.
    visible_to: int | None = None
    #: The inboxes whose unassigned conversations `visible_to` sees; None: every inbox.
    visible_inboxes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not self.statuses:
            raise InvalidQuery("queue filter: choose at least one status")
        unknown = [s for s in self.statuses if s not in CONVERSATION_STATUSES]
        if unknown:
            raise InvalidQuery(
                f"queue filter: unknown status {unknown[0]!r}"
                f" (known: {', '.join(CONVERSATION_STATUSES)})"
            )
        if len(set(self.statuses)) != len(self.statuses):
            raise InvalidQuery("queue filter: a status is listed twice")
        if self.trust is not None and self.trust not in TRUST_FILTERS:
            raise InvalidQuery(
                f"queue filter: trust must be one of {', '.join(TRUST_FILTERS)}, not {self.trust!r}"
            )
        for name in ("agent_id", "inbox_id", "visible_to"):
            value = getattr(self, name)
            if value is not None and not _number(value):
                raise InvalidQuery(f"queue filter: {name} must be a number")
        if self.visible_inboxes is not None and (
            not isinstance(self.visible_inboxes, tuple)
            or not all(_number(v) for v in self.visible_inboxes)
            or len(self.visible_inboxes) > MAX_PAGE
        ):
            raise InvalidQuery("queue filter: visible_inboxes must be a tuple of numbers")
        if self.unassigned is not True and self.unassigned is not False:
            raise InvalidQuery("queue filter: unassigned must be true or false")
        if self.unassigned and self.agent_id is not None:
            raise InvalidQuery("queue filter: give an agent or unassigned, not both")

    def runs(self) -> list[tuple[str, list[object]]]:
        """WHERE clauses, one per index range; each range is already in queue order.

        OPEN and WAITING together are one range of the partial `status != 'CLOSED'` indexes;
        a single status is a range of `(status, queue_key, id)`, or of a partial index when
        the status is an active one (the redundant term lets SQLite pick it).
        """
        wanted = set(self.statuses)
        groups: list[tuple[str, list[object]]] = []
        if set(OPEN_STATUSES) <= wanted:
            groups.append(("c.status != 'CLOSED'", []))
            wanted -= set(OPEN_STATUSES)
        for status in CONVERSATION_STATUSES:
            if status in wanted:
                active = " AND c.status != 'CLOSED'" if status != "CLOSED" else ""
                groups.append((f"c.status = ?{active}", [status]))
        out = []
        for (status_clause, status_params), (scope, scope_params) in itertools.product(
            groups, self._scopes()
        ):
            clauses = [status_clause, *scope]
            params = [*status_params, *scope_params]
            if self.agent_id is not None:
                clauses.append("c.assignee_id = ?")
                params.append(self.agent_id)
            if self.unassigned:
                clauses.append("c.assignee_id IS NULL")
            if self.inbox_id is not None:
                clauses.append("c.inbox_id = ?")
                params.append(self.inbox_id)
            if self.trust == "trusted":
                clauses.append("c.last_customer_trusted = 1")
            elif self.trust == "untrusted":
                clauses.append("coalesce(c.last_customer_trusted, 0) = 0")
            out.append((" AND ".join(clauses), params))
        return out

    def _scopes(self) -> list[tuple[list[str], list[object]]]:
        """The ranges `visible_to` may see, each one index range: their own conversations,
        and the unassigned ones of each inbox they work (of any inbox when they work all).
        Ranges the other terms rule out are left out; none left: an empty queue."""
        me = self.visible_to
        if me is None:
            return [([], [])]
        scopes: list[tuple[list[str], list[object]]] = []
        if not self.unassigned and self.agent_id in (None, me):
            scopes.append((["c.assignee_id = ?"], [me]))
        if self.agent_id is None:
            inboxes = self.visible_inboxes
            if self.inbox_id is not None:
                inboxes = (self.inbox_id,) if inboxes is None or self.inbox_id in inboxes else ()
            if inboxes is None:
                scopes.append((["c.assignee_id IS NULL"], []))
            for inbox_id in inboxes or ():
                scopes.append((["c.assignee_id IS NULL", "c.inbox_id = ?"], [inbox_id]))
        return scopes


def _number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One conversation as a queue row shows it."""

    id: int
    queue_key: int
    status: str
    inbox: str
    assignee: str | None  # agent handle
    profile_id: int
    customer: str
    identity_state: str
    identity_source: str
    last_customer_trusted: bool | None
    waiting_since: int | None
    updated_at: int
    last_preview: str
    item_count: int
    #: None while the conversation is held for the customer to log in (not routed yet).
    routed_at: int | None = None

    @property
    def held(self) -> bool:
        return self.routed_at is None and self.status != "CLOSED"

    @property
    def key(self) -> QueueKey:
        return (self.queue_key, self.id)

    @property
    def glyph(self) -> Glyph:
        """The glyph state of the latest customer message."""
        return glyph(self.last_customer_trusted, self.status)

    @property
    def customer_waiting(self) -> bool:
        return self.waiting_since is not None and self.status != "CLOSED"


_ROW_COLUMNS = (
    "c.id, c.queue_key, c.status, i.name, a.handle, c.profile_id, p.name, c.identity_state,"
    " c.identity_source, c.last_customer_trusted, c.waiting_since, c.updated_at,"
    " c.last_preview, c.item_count, c.trusted_until, c.routed_at"
)
_ROW_JOINS = (
    " JOIN inboxes i ON i.id = c.inbox_id JOIN profiles p ON p.id = c.profile_id"
    " LEFT JOIN agents a ON a.id = c.assignee_id"
)


def _queue_row(row: Sequence[object], now: int) -> QueueRow:
    trusted = row[9]
    return QueueRow(
        id=int(row[0]),  # type: ignore[call-overload]
        queue_key=int(row[1]),  # type: ignore[call-overload]
        status=str(row[2]),
        inbox=str(row[3]),
        assignee=None if row[4] is None else str(row[4]),
        profile_id=int(row[5]),  # type: ignore[call-overload]
        customer=str(row[6]),
        identity_state=identity_state_at(str(row[7]), row[14], now, str(row[2])),  # type: ignore[arg-type]
        identity_source=str(row[8]),
        last_customer_trusted=None if trusted is None else bool(trusted),
        waiting_since=None if row[10] is None else int(row[10]),  # type: ignore[call-overload]
        updated_at=int(row[11]),  # type: ignore[call-overload]
        last_preview=str(row[12]),
        item_count=int(row[13]),  # type: ignore[call-overload]
        routed_at=None if row[15] is None else int(row[15]),  # type: ignore[call-overload]
    )


def _check_key(key: object, name: str) -> QueueKey | None:
    if key is None:
        return None
    if (
        not isinstance(key, tuple)
        or len(key) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in key)
    ):
        raise InvalidQuery(f"queue page: {name} must be a (queue_key, id) pair of numbers")
    return key


def check_limit(limit: object) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"page size must be a number from 1 to {MAX_PAGE}")
    return limit


def queue_page(
    desk: Desk,
    queue: QueueFilter,
    *,
    start: QueueKey | None = None,
    after: QueueKey | None = None,
    before: QueueKey | None = None,
    limit: int = 64,
) -> list[QueueRow]:
    """Up to `limit` queue rows in queue order.

    `start` (inclusive) or `after` (exclusive) begins the page at a key; `before` (exclusive)
    returns the `limit` rows just before a key, still in queue order. None of them: the head.
    """
    start, after, before = (
        _check_key(start, "start"),
        _check_key(after, "after"),
        _check_key(before, "before"),
    )
    limit = check_limit(limit)
    if sum(k is not None for k in (start, after, before)) > 1:
        raise InvalidQuery("queue page: give at most one of start, after, before")
    descending = before is not None
    order = "DESC" if descending else "ASC"
    bound, bound_params = "", []
    if start is not None:
        bound, bound_params = " AND (c.queue_key, c.id) >= (?, ?)", list(start)
    elif after is not None:
        bound, bound_params = " AND (c.queue_key, c.id) > (?, ?)", list(after)
    elif before is not None:
        bound, bound_params = " AND (c.queue_key, c.id) < (?, ?)", list(before)
    runs: list[list[QueueRow]] = []
    with desk.reading() as conn:
        for where, params in queue.runs():
            rows = conn.execute(
                f"SELECT {_ROW_COLUMNS} FROM conversations c{_ROW_JOINS}"
                f" WHERE {where}{bound} ORDER BY c.queue_key {order}, c.id {order} LIMIT ?",
                (*params, *bound_params, limit),
            ).fetchall()
            now = desk.clock.now_ms()
            runs.append([_queue_row(r, now) for r in rows])
    merged = heapq.merge(*runs, key=lambda r: r.key, reverse=descending)
    page = [row for _, row in zip(range(limit), merged, strict=False)]
    if descending:
        page.reverse()
    return page


def _keys(conn: sqlite3.Connection, queue: QueueFilter) -> Iterator[QueueKey]:
    """Every key of the queue in order, streamed from the indexes."""
    runs: list[Iterable[QueueKey]] = []
    for where, params in queue.runs():
        sql = f"SELECT c.queue_key, c.id FROM conversations c WHERE {where} ORDER BY c.queue_key, c.id"
        if isinstance(conn, sqlite3.Connection):
            cursor = conn.cursor()
            cursor.row_factory = None  # plain (queue_key, id) tuples, comparable in the merge
            runs.append(cursor.execute(sql, params))
        else:  # PostgreSQL's rows are tuples already
            runs.append(iter(conn.execute(sql, params)))
    return heapq.merge(*runs)


@dataclass(frozen=True, slots=True)
class QueueIndex:
    """How many rows a queue has and the key of every `every`-th one (its page directory).

    Row `n` is then one keyset read away: start at `anchors[n // every]`.
    """

    total: int
    every: int
    anchors: tuple[QueueKey, ...] = field(default_factory=tuple)

    def anchor(self, page: int) -> QueueKey | None:
        return self.anchors[page] if 0 <= page < len(self.anchors) else None


def queue_index(desk: Desk, queue: QueueFilter, *, every: int = 64) -> QueueIndex:
    """Count the queue and record a page directory, in one snapshot (one index scan)."""
    every = check_limit(every)
    anchors: list[QueueKey] = []
    total = 0
    with desk.reading() as conn:
        for position, key in enumerate(_keys(conn, queue)):
            if position % every == 0:
                anchors.append((int(key[0]), int(key[1])))
            total = position + 1
    return QueueIndex(total=total, every=every, anchors=tuple(anchors))


def queue_count(desk: Desk, queue: QueueFilter) -> int:
    total = 0
    with desk.reading() as conn:
        for where, params in queue.runs():
            row = conn.execute(
                f"SELECT count(*) FROM conversations c WHERE {where}", params
            ).fetchone()
            total += int(row[0])
    return total
