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
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from core.errors import DeskError, NotFound
from core.models import Glyph, TimelineItem, glyph, identity_state_at
from core.schema import CONVERSATION_STATUSES
from core.store import Desk

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
    statuses: tuple[str, ...] = OPEN_STATUSES
    #: "trusted": the latest customer message was trusted; "untrusted": it was not (or none).
    trust: str | None = None

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
        for name in ("agent_id", "inbox_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise InvalidQuery(f"queue filter: {name} must be a number")

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
        for status_clause, status_params in groups:
            clauses = [status_clause]
            params = list(status_params)
            if self.agent_id is not None:
                clauses.append("c.assignee_id = ?")
                params.append(self.agent_id)
            if self.inbox_id is not None:
                clauses.append("c.inbox_id = ?")
                params.append(self.inbox_id)
            if self.trust == "trusted":
                clauses.append("c.last_customer_trusted = 1")
            elif self.trust == "untrusted":
                clauses.append("coalesce(c.last_customer_trusted, 0) = 0")
            out.append((" AND ".join(clauses), params))
        return out


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
    " c.last_preview, c.item_count, c.trusted_until"
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


def _check_limit(limit: object) -> int:
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
    limit = _check_limit(limit)
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
        cursor = conn.cursor()
        cursor.row_factory = None  # plain (queue_key, id) tuples, comparable in the merge
        cursor.execute(
            f"SELECT c.queue_key, c.id FROM conversations c WHERE {where}"
            " ORDER BY c.queue_key, c.id",
            params,
        )
        runs.append(cursor)
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
    every = _check_limit(every)
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


# -- timelines --------------------------------------------------------------------------------


def timeline_page(
    desk: Desk,
    conversation_id: int,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 200,
) -> tuple[str, list[TimelineItem]]:
    """Up to `limit` timeline items in order, and the conversation's status.

    `before_id`: the items just before it (older); `after_id`: the ones after it (newer);
    neither: the latest `limit` items. Glyphs follow the status at read time.
    """
    if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
        raise InvalidQuery("conversation: expected a numeric id")
    limit = _check_limit(limit)
    for name, value in (("before_id", before_id), ("after_id", after_id)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidQuery(f"timeline page: {name} must be a number")
    if before_id is not None and after_id is not None:
        raise InvalidQuery("timeline page: give before_id or after_id, not both")
    sql = (
        f"SELECT {TimelineItem.COLUMNS} FROM items i LEFT JOIN agents a ON a.id = i.agent_id"
        " WHERE i.conversation_id = ?"
    )
    with desk.reading() as conn:
        conv = conn.execute(
            "SELECT status FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if conv is None:
            raise NotFound(f"no conversation {conversation_id}")
        status = str(conv[0])
        if after_id is not None:
            rows = conn.execute(
                sql + " AND i.id > ? ORDER BY i.id LIMIT ?", (conversation_id, after_id, limit)
            ).fetchall()
        else:
            bound = " AND i.id < ?" if before_id is not None else ""
            params: tuple[object, ...] = (conversation_id,)
            if before_id is not None:
                params += (before_id,)
            rows = conn.execute(
                sql + bound + " ORDER BY i.id DESC LIMIT ?", (*params, limit)
            ).fetchall()
            rows.reverse()
    items = [TimelineItem.from_row(row, status) for row in rows]
    return status, items


# -- directory lookups --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentEntry:
    id: int
    handle: str
    name: str
    available: bool


def agents(desk: Desk) -> list[AgentEntry]:
    rows = desk.query("SELECT id, handle, name, available FROM agents ORDER BY handle")
    return [AgentEntry(int(r[0]), str(r[1]), str(r[2]), bool(r[3])) for r in rows]


def agents_available(desk: Desk) -> bool:
    """Whether any agent is marked available."""
    row = desk.query_one("SELECT count(*) FROM agents WHERE available = 1")
    return bool(row and row[0])


def app_origins(desk: Desk) -> list[tuple[str, str]]:
    """(app id, `allowed_origins` as stored: a JSON list, unchecked) of every app."""
    return [(str(r[0]), r[1]) for r in desk.query("SELECT app_id, allowed_origins FROM apps")]


def inboxes(desk: Desk) -> list[tuple[int, str]]:
    """(id, name) of every inbox, in creation order."""
    return [(int(r[0]), str(r[1])) for r in desk.query("SELECT id, name FROM inboxes ORDER BY id")]


def customer_name(desk: Desk, conversation_id: int) -> str:
    row = desk.query_one(
        "SELECT p.name FROM conversations c JOIN profiles p ON p.id = c.profile_id WHERE c.id = ?",
        (conversation_id,),
    )
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    return str(row[0])


def customer_emails(desk: Desk, limit: int) -> list[tuple[str, str]]:
    """(name, smallest email) of the first `limit` profiles with an email, by profile id."""
    rows = desk.query(
        "SELECT p.name, min(e.email) FROM profiles p JOIN profile_emails e ON e.profile_id = p.id"
        " GROUP BY p.id ORDER BY p.id LIMIT ?",
        (limit,),
    )
    return [(r[0], r[1]) for r in rows]


# -- profile search -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProfileHit:
    """A customer profile found by search, with their latest conversation."""

    id: int
    name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    conversations: int
    latest_conversation_id: int | None
    latest_status: str | None
    matched: str  # "name", "email" or "phone"


def _prefix_bounds(prefix: str) -> tuple[str, str]:
    return prefix, prefix + "\U0010ffff"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_profiles(desk: Desk, text: object, *, limit: int = 20) -> list[ProfileHit]:
    """Profiles whose name, email or phone matches `text`.

    Emails and phones match by prefix on their primary keys (an `@` or a leading `+`/digit
    says which); names match by prefix through the NOCASE index, then anywhere in the name.
    """
    if not isinstance(text, str):
        raise InvalidQuery("search: expected text")
    limit = _check_limit(limit)
    query = " ".join(text.split())
    if not query:
        return []
    if len(query) > MAX_SEARCH_CHARS:
        raise InvalidQuery(f"search: longer than {MAX_SEARCH_CHARS} characters")
    found: dict[int, str] = {}
    with desk.reading() as conn:
        compact = query.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
        if "@" in query:
            low, high = _prefix_bounds(query.lower())
            for (profile_id,) in conn.execute(
                "SELECT profile_id FROM profile_emails WHERE email >= ? AND email < ?"
                " ORDER BY email LIMIT ?",
                (low, high, limit),
            ):
                found.setdefault(int(profile_id), "email")
        elif compact.lstrip("+").isdigit():
            digits = compact.lstrip("+")
            low, high = _prefix_bounds("+" + digits)
            for (profile_id,) in conn.execute(
                "SELECT profile_id FROM profile_phones WHERE phone >= ? AND phone < ?"
                " ORDER BY phone LIMIT ?",
                (low, high, limit),
            ):
                found.setdefault(int(profile_id), "phone")
        if len(found) < limit:
            pattern = _like_escape(query)
            for (profile_id,) in conn.execute(
                "SELECT id FROM profiles WHERE name LIKE ? ESCAPE '\\' ORDER BY name, id LIMIT ?",
                (pattern + "%", limit),
            ):
                found.setdefault(int(profile_id), "name")
        if len(found) < limit and len(query) >= 2:
            for (profile_id,) in conn.execute(
                "SELECT id FROM profiles WHERE name LIKE ? ESCAPE '\\' ORDER BY name, id LIMIT ?",
                ("%" + _like_escape(query) + "%", limit),
            ):
                found.setdefault(int(profile_id), "name")
        hits = [_profile_hit(conn, profile_id, how) for profile_id, how in found.items()]
    return hits[:limit]


def _profile_hit(conn: sqlite3.Connection, profile_id: int, matched: str) -> ProfileHit:
    name = conn.execute("SELECT name FROM profiles WHERE id = ?", (profile_id,)).fetchone()[0]
    emails = tuple(
        r[0]
        for r in conn.execute(
            "SELECT email FROM profile_emails WHERE profile_id = ? ORDER BY email", (profile_id,)
        )
    )
    phones = tuple(
        r[0]
        for r in conn.execute(
            "SELECT phone FROM profile_phones WHERE profile_id = ? ORDER BY phone", (profile_id,)
        )
    )
    count = conn.execute(
        "SELECT count(*) FROM conversations WHERE profile_id = ?", (profile_id,)
    ).fetchone()[0]
    latest = conn.execute(
        "SELECT id, status FROM conversations WHERE profile_id = ?"
        " ORDER BY status = 'CLOSED', created_at DESC, id DESC LIMIT 1",
        (profile_id,),
    ).fetchone()
    return ProfileHit(
        id=profile_id,
        name=str(name),
        emails=emails,
        phones=phones,
        conversations=int(count),
        latest_conversation_id=None if latest is None else int(latest[0]),
        latest_status=None if latest is None else str(latest[1]),
        matched=matched,
    )
