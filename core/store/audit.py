"""The token audit (`token_audit`): every rejected identity token, never the token itself.

Writes come from the verifier; reads serve `gladdesk audit`, `GET /api/v1/audit` (newest
first, keyset pages over `(at, id)`) and the console's profile pane (a conversation's live
sessions). The presenting session's app, identity state and profile are copied into the row
when it is written, so the audit says who the customer claimed to be at that moment.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from core.store.desk import Desk, Row, Tx

#: Where a rejected token was presented: a widget session, or `gladdesk verify`.
AUDIT_ORIGINS = ("widget", "cli")
#: An audit page's position: the `(at, id)` of the last row shown.
AuditKey = tuple[int, int]


def insert_token_audit(
    conn: sqlite3.Connection,
    *,
    at: int,
    code: str,
    kid: str | None,
    session_id: str | None,
    client_address: str | None,
    detail: str,
    app_id: str | None = None,
    origin: str = "widget",
) -> None:
    """One rejection. The session's app (unless `app_id` names one), identity state and
    profile are read from `widget_sessions` in the same statement."""
    conn.execute(
        "INSERT INTO token_audit (at, code, kid, session_id, client_address, detail, origin,"
        " app_id, session_state, profile_id)"
        " SELECT :at, :code, :kid, :session, :address, :detail, :origin,"
        "  coalesce(:app, s.app_id), s.identity_state, s.profile_id"
        " FROM (SELECT 1) AS one LEFT JOIN widget_sessions s ON s.id = :session",
        {
            "at": at,
            "code": code,
            "kid": kid,
            "session": session_id,
            "address": client_address,
            "detail": detail,
            "origin": origin,
            "app": app_id,
        },
    )


def session_subject(conn: Tx, session_id: str | None) -> tuple[int | None, int | None]:
    """(profile, conversation) a widget session is on now; (None, None) for no such session."""
    if session_id is None:
        return None, None
    row = conn.execute(
        "SELECT profile_id, conversation_id FROM widget_sessions WHERE id = ?", (session_id,)
    ).fetchone()
    return (None, None) if row is None else (row[0], row[1])


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which rejections to list; `None` leaves a column unrestricted."""

    since: int | None = None  # ms, inclusive
    code: str | None = None
    session_id: str | None = None
    app_id: str | None = None
    origin: str | None = None


_COLUMNS = (
    "a.id, a.at, a.code, a.kid, a.app_id, a.session_id, a.origin, a.detail, a.client_address,"
    " a.session_state, a.profile_id, p.name AS profile_name,"
    " (SELECT e.email FROM profile_emails e WHERE e.profile_id = a.profile_id"
    "  ORDER BY e.rowid LIMIT 1) AS profile_email,"
    " (SELECT f.phone FROM profile_phones f WHERE f.profile_id = a.profile_id"
    "  ORDER BY f.rowid LIMIT 1) AS profile_phone"
)


def rejections_page(
    desk: Desk, wanted: AuditFilter, *, after: AuditKey | None = None, limit: int = 50
) -> list[Row]:
    """Rejections matching `wanted`, newest first, from just past `after` (a page's last
    `(at, id)`); a walk down the `(at)` or `(session_id, at)` index."""
    where: list[str] = []
    params: list[object] = []
    for clause, value in (
        ("a.at >= ?", wanted.since),
        ("a.code = ?", wanted.code),
        ("a.session_id = ?", wanted.session_id),
        ("a.app_id = ?", wanted.app_id),
        ("a.origin = ?", wanted.origin),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    if after is not None:
        where.append("(a.at, a.id) < (?, ?)")
        params += [after[0], after[1]]
    sql = (
        f"SELECT {_COLUMNS} FROM token_audit a LEFT JOIN profiles p ON p.id = a.profile_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY a.at DESC, a.id DESC LIMIT ?"
    )
    return desk.query(sql, (*params, limit))


def conversation_rejections(conn: Tx, conversation_id: int, limit: int) -> list[Row]:
    """The latest widget rejections (at, code, kid, session_id) of the live sessions that may
    see a conversation: the one that started it and those that joined it while trusted."""
    return list(
        conn.execute(
            "SELECT a.at, a.code, a.kid, a.session_id FROM token_audit a"
            " WHERE a.origin = 'widget' AND a.session_id IN ("
            "  SELECT s.id FROM widget_sessions s WHERE s.ended_at IS NULL AND s.id IN ("
            "   SELECT x.session_id FROM session_access x WHERE x.conversation_id = :c"
            "   UNION SELECT c.started_session_id FROM conversations c WHERE c.id = :c))"
            " ORDER BY a.at DESC, a.id DESC LIMIT :n",
            {"c": conversation_id, "n": limit},
        )
    )
