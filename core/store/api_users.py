"""The `api_users` table: admin REST API users, their tokens stored only as hashes."""

from __future__ import annotations

import sqlite3

from core.store.desk import Desk


def api_user_exists(conn: sqlite3.Connection, email: str) -> bool:
    return conn.execute("SELECT 1 FROM api_users WHERE email = ?", (email,)).fetchone() is not None


def insert_api_user(conn: sqlite3.Connection, email: str, token_hash: str, at: int) -> None:
    conn.execute(
        "INSERT INTO api_users (email, token_hash, created_at) VALUES (?, ?, ?)",
        (email, token_hash, at),
    )


def api_user_token_hash(desk: Desk, email: str) -> str | None:
    """The stored token hash of `email` (exactly as given), None when there is no such user."""
    row = desk.query_one("SELECT token_hash FROM api_users WHERE email = ?", (email,))
    return row[0] if row else None
