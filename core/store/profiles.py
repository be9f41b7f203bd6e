"""Profile search: emails and phones by prefix on their primary keys, then by a part of them;
names by prefix or word."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from core.errors import NotFound
from core.store.desk import Desk, Row, Tx
from core.store.queue import MAX_SEARCH_CHARS, InvalidQuery, check_limit


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
    says which), then by a part (`@example.com`, `0612`); names match by prefix through the
    NOCASE index, then anywhere in the name.
    """
    if not isinstance(text, str):
        raise InvalidQuery("search: expected text")
    limit = check_limit(limit)
    query = " ".join(text.split())
    if not query:
        return []
    if len(query) > MAX_SEARCH_CHARS:
        raise InvalidQuery(f"search: longer than {MAX_SEARCH_CHARS} characters")
    found: dict[int, str] = {}
    with desk.reading() as conn:
        compact = query.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
        if "@" in query:
            _emails_matching(conn, query.lower(), limit, found)
        elif compact.lstrip("+").isdigit():
            _phones_matching(conn, compact, limit, found)
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
        if len(found) < limit and "@" not in query and " " not in query and len(query) >= 3:
            _emails_containing(conn, query.lower(), limit, found)
        hits = [_profile_hit(conn, profile_id, how) for profile_id, how in found.items()]
    return hits[:limit]


#: Digits a phone search needs before it matches inside numbers, not only at their start.
MIN_INNER_DIGITS = 4


def _emails_matching(
    conn: sqlite3.Connection, query: str, limit: int, found: dict[int, str]
) -> None:
    """Emails starting with `query` (`hana@`, on the primary key), then containing it."""
    low, high = _prefix_bounds(query)
    for (profile_id,) in conn.execute(
        "SELECT profile_id FROM profile_emails WHERE email >= ? AND email < ?"
        " ORDER BY email LIMIT ?",
        (low, high, limit),
    ):
        found.setdefault(int(profile_id), "email")
    _emails_containing(conn, query, limit, found)


def _emails_containing(
    conn: sqlite3.Connection, query: str, limit: int, found: dict[int, str]
) -> None:
    """Emails containing `query` (`@example.com`, `chen.`, `bauer@`), until `found` holds
    `limit` profiles."""
    if len(found) >= limit:
        return
    for (profile_id,) in conn.execute(
        "SELECT profile_id FROM profile_emails WHERE email LIKE ? ESCAPE '\\'"
        " ORDER BY email LIMIT ?",
        ("%" + _like_escape(query) + "%", limit),
    ):
        found.setdefault(int(profile_id), "email")


def _phones_matching(
    conn: sqlite3.Connection, compact: str, limit: int, found: dict[int, str]
) -> None:
    """Numbers (stored in E.164) starting with `compact` (`+33 6 12`), then, when it has
    `MIN_INNER_DIGITS` digits or more and no `+`, containing them: `0612` as typed in a
    country's own form matches `+33612...` (a leading 0 is the national trunk prefix, which
    E.164 leaves out)."""
    digits = compact.lstrip("+")
    low, high = _prefix_bounds("+" + digits)
    for (profile_id,) in conn.execute(
        "SELECT profile_id FROM profile_phones WHERE phone >= ? AND phone < ?"
        " ORDER BY phone LIMIT ?",
        (low, high, limit),
    ):
        found.setdefault(int(profile_id), "phone")
    if compact.startswith("+") or len(digits) < MIN_INNER_DIGITS:
        return
    inner = {digits}
    if digits.startswith("00"):  # the international call prefix: 0044... is +44...
        inner.add("+" + digits[2:])
    elif digits.startswith("0"):  # the national trunk prefix: 020 7900... is +44 20 7900...
        inner.add(digits[1:])
    for part in sorted(inner):
        if len(found) >= limit:
            return
        for (profile_id,) in conn.execute(
            "SELECT profile_id FROM profile_phones WHERE phone LIKE ? ORDER BY phone LIMIT ?",
            ("%" + part + "%", limit),
        ):
            found.setdefault(int(profile_id), "phone")


def _profile_hit(conn: sqlite3.Connection, profile_id: int, matched: str) -> ProfileHit:
    details = contact_details(conn, profile_id)
    if details is None:  # cannot happen: the search found it in this same read
        raise NotFound(f"no customer profile {profile_id}")
    name, emails, phones = details
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


# -- the engine's profile reads and writes ----------------------------------------------------


def owner(conn: Tx, *, email: str | None = None, phone: str | None = None) -> Row | None:
    """The profile owning this email (or, without one, this phone)."""
    if email is not None:
        sql = (
            "SELECT p.* FROM profile_emails e JOIN profiles p ON p.id = e.profile_id"
            " WHERE e.email = ?"
        )
        row: Row | None = conn.execute(sql, (email,)).fetchone()
        return row
    sql = (
        "SELECT p.* FROM profile_phones f JOIN profiles p ON p.id = f.profile_id WHERE f.phone = ?"
    )
    row = conn.execute(sql, (phone,)).fetchone()
    return row


def insert(
    conn: Tx, name: str, now: int, *, email: str | None = None, phone: str | None = None
) -> int:
    """A new profile, owning the email and/or phone given; returns its id."""
    cursor = conn.execute("INSERT INTO profiles (name, created_at) VALUES (?, ?)", (name, now))
    profile_id = int(cursor.lastrowid or 0)
    if email is not None:
        conn.execute(
            "INSERT INTO profile_emails (email, profile_id) VALUES (?, ?)", (email, profile_id)
        )
    if phone is not None:
        conn.execute(
            "INSERT INTO profile_phones (phone, profile_id) VALUES (?, ?)", (phone, profile_id)
        )
    return profile_id


def contact_details(
    conn: Tx, profile_id: int
) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """(name, emails, phones) of a profile, None when there is no such profile."""
    row = conn.execute("SELECT name FROM profiles WHERE id = ?", (profile_id,)).fetchone()
    if row is None:
        return None
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
    return str(row[0]), emails, phones
