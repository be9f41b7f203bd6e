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


def query_words(text: str) -> list[str]:
    """The words of what an agent typed (at most MAX_TERMS)."""
    # Control characters (NUL ends an FTS5 string early) are never part of a word.
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return [w for w in printable.split() if any(ch.isalnum() for ch in w)][:MAX_TERMS]


def fts_query(text: str) -> str | None:
    """The FTS5 query for what an agent typed: quoted terms, all required, the last a prefix;
    None when there is no word in it."""
    words = query_words(text)
    if not words:
        return None
    terms = ['"' + word.replace('"', '""') + '"' for word in words]
    terms[-1] += "*"
    return " ".join(terms)


def tsquery(words: list[str]) -> str:
    """The PostgreSQL `to_tsquery` text of the same search: each word a quoted lexeme (quotes
    and backslashes escaped), all required, the last a prefix."""
    terms = ["'" + w.replace("\\", "\\\\").replace("'", "''") + "'" for w in words]
    terms[-1] += ":*"
    return " & ".join(terms)


SQLITE_MESSAGES = (
    "SELECT i.conversation_id, i.id, snippet(items_fts, 0, ?, ?, '…', 12),"
    " coalesce(p.name, ''), c.status, i.at, i.sender"
    " FROM items_fts JOIN items i ON i.id = items_fts.rowid"
    " JOIN conversations c ON c.id = i.conversation_id"
    " LEFT JOIN profiles p ON p.id = c.profile_id"
    " WHERE items_fts MATCH ? AND i.type = 'message'"
    " ORDER BY bm25(items_fts), i.id DESC LIMIT ?"
)
#: PostgreSQL: the GIN index `items_message_words` (core/store/schema_pg.py) of the same words.
PG_MESSAGES = (
    "SELECT i.conversation_id, i.id, ts_headline('simple', i.body, q.query, :headline),"
    " coalesce(p.name, ''), c.status, i.at, i.sender"
    " FROM (SELECT to_tsquery('simple', :query) AS query) AS q"
    " JOIN items i ON to_tsvector('simple', i.body) @@ q.query"
    " JOIN conversations c ON c.id = i.conversation_id"
    " LEFT JOIN profiles p ON p.id = c.profile_id"
    " WHERE i.type = 'message'"
    " ORDER BY ts_rank(to_tsvector('simple', i.body), q.query) DESC, i.id DESC LIMIT :limit"
)
PG_HEADLINE = (
    f'StartSel="{HIT_START}", StopSel="{HIT_END}", MaxWords=12, MinWords=4,'
    ' MaxFragments=1, FragmentDelimiter="…"'
)


def search_messages(desk: Desk, text: object, *, limit: int = 20) -> list[MessageHit]:
    """Messages whose text matches `text` (bm25 rank, best first), then conversations tagged
    with a tag starting with it."""
    if not isinstance(text, str):
        raise InvalidQuery("search: expected text")
    limit = check_limit(limit)
    if len(text) > MAX_SEARCH_CHARS:
        raise InvalidQuery(f"search: longer than {MAX_SEARCH_CHARS} characters")
    words = query_words(text)
    if not words:
        return []
    with desk.reading() as conn:
        if desk.dialect == "postgresql":
            params = {"query": tsquery(words), "headline": PG_HEADLINE, "limit": limit}
            rows = conn.execute(PG_MESSAGES, params).fetchall()
        else:
            rows = conn.execute(
                SQLITE_MESSAGES, (HIT_START, HIT_END, fts_query(text), limit)
            ).fetchall()
        hits = [MessageHit(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
        tag = " ".join("".join(ch for ch in text if ch.isprintable() or ch.isspace()).split())
        tag = tag.lower()
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
