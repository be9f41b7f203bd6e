"""Full-text search over conversation history: message text (the FTS5 index `items_fts` of `items.message_text`,
schema v5) and conversation tags, best matches first, each hit naming the message to open
the conversation at.

What the agent types is never FTS syntax: each word becomes a quoted term (quotes doubled),
the last one a prefix (`refu` finds "refund"), all of them required. So `"`, `*`, `NEAR(`,
`-` or `OR` are searched for as text, never parsed.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.store.desk import Desk
from core.store.queue import MAX_SEARCH_CHARS, InvalidQuery, check_limit

#: Words of a query used at most (the rest are ignored).
MAX_TERMS = 12
#: Marks around the matched words in a snippet (plain text; the console styles them).
HIT_START, HIT_END = "\x02", "\x03"


@dataclass(frozen=True, slots=True)
class MessageHit:
    """A message (or a tag) matching a search, in its conversation."""

    conversation_id: int
    #: The message to open the conversation at; None for a tag match.
    item_id: int | None
    #: The matched text with HIT_START/HIT_END around the words found.
    snippet: str
    customer: str
    status: str
    at: int
    sender: str


def fts_query(text: str) -> str | None:
    """The FTS5 query for what an agent typed: quoted terms, all required, the last a prefix;
    None when there is no word in it."""
    # Control characters (NUL ends an FTS5 string early) are never part of a word.
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    words = [w for w in printable.split() if any(ch.isalnum() for ch in w)][:MAX_TERMS]
    if not words:
        return None
    terms = ['"' + word.replace('"', '""') + '"' for word in words]
    terms[-1] += "*"
    return " ".join(terms)


def search_messages(desk: Desk, text: object, *, limit: int = 20) -> list[MessageHit]:
    """Messages whose text matches `text` (bm25 rank, best first), then conversations tagged
    with a tag starting with it."""
    if not isinstance(text, str):
        raise InvalidQuery("search: expected text")
    limit = check_limit(limit)
    if len(text) > MAX_SEARCH_CHARS:
        raise InvalidQuery(f"search: longer than {MAX_SEARCH_CHARS} characters")
    query = fts_query(text)
    if query is None:
        return []
    with desk.reading() as conn:
        rows = conn.execute(
            "SELECT i.conversation_id, i.id, snippet(items_fts, 0, ?, ?, '…', 12),"
            " coalesce(p.name, ''), c.status, i.at, i.sender"
            " FROM items_fts JOIN items i ON i.id = items_fts.rowid"
            " JOIN conversations c ON c.id = i.conversation_id"
            " LEFT JOIN profiles p ON p.id = c.profile_id"
            " WHERE items_fts MATCH ? AND i.type = 'message'"
            " ORDER BY bm25(items_fts), i.id DESC LIMIT ?",
            (HIT_START, HIT_END, query, limit),
        ).fetchall()
        hits = [MessageHit(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
        tag = " ".join(text.split()).lower()
        if len(hits) < limit and tag:
            escaped = tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            for row in conn.execute(
                "SELECT t.conversation_id, t.tag, coalesce(p.name, ''), c.status, c.created_at"
                " FROM conversation_tags t JOIN conversations c ON c.id = t.conversation_id"
                " LEFT JOIN profiles p ON p.id = c.profile_id"
                " WHERE t.tag LIKE ? ESCAPE '\\' ORDER BY c.created_at DESC, c.id DESC LIMIT ?",
                (escaped + "%", limit - len(hits)),
            ):
                snippet = f"tag {HIT_START}{row[1]}{HIT_END}"
                hits.append(MessageHit(row[0], None, snippet, row[2], row[3], row[4], "tag"))
    return hits
