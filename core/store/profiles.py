"""Profile search: email and phone prefixes on their primary keys, names by prefix or word."""

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
    says which); names match by prefix through the NOCASE index, then anywhere in the name.
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
