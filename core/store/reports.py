"""Reads for the authentication report (`core.report`): counts of conversations by day, inbox
and trust path, times to authenticate, rejected tokens by reason.

Each function reads one figure for conversations started (`created_at`) or tokens rejected
(`at`) in `[low, high)`, in ms. The report calls them on one connection from
`Desk.reading()`, so all its figures come from the same snapshot.
"""

from __future__ import annotations

import sqlite3

DAY_MS = 86_400_000
#: The paths that mean "the conversation became trusted".
TRUSTED_PATHS = ("before_routing", "after_routing", "different_identity")

_TRUSTED = ", ".join(f"'{path}'" for path in TRUSTED_PATHS)
#: Rejections customers met: checks made with `gladdesk verify` are left out.
_CUSTOMER_FACING = "origin = 'widget'"
_AUTHENTICATED = f"sum(CASE WHEN c.trust_path IN ({_TRUSTED}) THEN 1 ELSE 0 END)"


def activity_span(conn: sqlite3.Connection, low: int, high: int) -> tuple[int, int] | None:
    """(earliest, latest) ms of a conversation start or a rejected token in the range; None
    when there is neither."""
    row = conn.execute(
        "SELECT min(lo), max(hi) FROM ("
        " SELECT min(created_at) AS lo, max(created_at) AS hi FROM conversations"
        "  WHERE created_at >= ? AND created_at < ?"
        " UNION ALL"
        " SELECT min(at), max(at) FROM token_audit WHERE at >= ? AND at < ?"
        f" AND {_CUSTOMER_FACING}) AS spans",
        (low, high, low, high),
    ).fetchone()
    return None if row[0] is None else (row[0], row[1])


def conversations_by_day(
    conn: sqlite3.Connection, low: int, high: int
) -> dict[int, tuple[int, int]]:
    """Days since 1970-01-01 (UTC) with conversations -> (conversations, authenticated)."""
    return {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            f"SELECT c.created_at / {DAY_MS}, count(*), {_AUTHENTICATED}"
            " FROM conversations c WHERE c.created_at >= ? AND c.created_at < ?"
            f" GROUP BY c.created_at / {DAY_MS}",
            (low, high),
        )
    }


def conversations_by_inbox(
    conn: sqlite3.Connection, low: int, high: int
) -> list[tuple[str, int, int]]:
    """(inbox, conversations, authenticated) of every inbox, zeros included, in creation
    order."""
    return [
        (row[0], row[1], row[2])
        for row in conn.execute(
            f"SELECT i.name, count(c.id), coalesce({_AUTHENTICATED}, 0) FROM inboxes i"
            " LEFT JOIN conversations c ON c.inbox_id = i.id"
            "  AND c.created_at >= ? AND c.created_at < ?"
            " GROUP BY i.id, i.name ORDER BY i.id",
            (low, high),
        )
    ]


def trust_path_counts(conn: sqlite3.Connection, low: int, high: int) -> dict[str, int]:
    """Conversations by trust path; a conversation without one counts as `never`."""
    return {
        row[0]: row[1]
        for row in conn.execute(
            "SELECT coalesce(trust_path, 'never'), count(*) FROM conversations"
            " WHERE created_at >= ? AND created_at < ? GROUP BY 1",
            (low, high),
        )
    }


def authentication_waits(conn: sqlite3.Connection, low: int, high: int) -> list[tuple[str, int]]:
    """(trust path, ms from chat start to authentication) of every trusted conversation."""
    return [
        (row[0], row[1])
        for row in conn.execute(
            "SELECT trust_path, authenticated_at - created_at FROM conversations"
            f" WHERE created_at >= ? AND created_at < ? AND trust_path IN ({_TRUSTED})"
            " AND authenticated_at IS NOT NULL",
            (low, high),
        )
    ]


def rejected_token_counts(conn: sqlite3.Connection, low: int, high: int) -> list[tuple[str, int]]:
    """(reason code, count) of identity tokens rejected in widget sessions, the most frequent
    first (`gladdesk verify` checks are not customers')."""
    return [
        (row[0], row[1])
        for row in conn.execute(
            "SELECT code, count(*) FROM token_audit WHERE at >= ? AND at < ?"
            f" AND {_CUSTOMER_FACING} GROUP BY code ORDER BY count(*) DESC, code",
            (low, high),
        )
    ]
