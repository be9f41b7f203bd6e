"""Shared test helpers: a small desk seeded in tmp_path."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from core.store import Desk

if TYPE_CHECKING:
    from click.testing import Result

LOGIN_URL = "https://shop.example.com/login"
SIGNUP_URL = "https://shop.example.com/signup"


def seed_desk(
    desk: Desk,
    *,
    agents: tuple[str, ...] = ("alice", "bruno", "chen"),
    capacity: int = 5,
    onboarding_identity: str = "email",
    onboarding_enabled: bool = True,
    trust_window_s: int = 3600,
) -> None:
    """One app (`shop`), inboxes Chat/Returns/Billing, and the given agents."""
    with desk.transaction() as conn:
        conn.execute(
            "INSERT INTO apps (app_id, store_name, login_url, signup_url, first_message, greeting,"
            " onboarding_enabled, onboarding_identity, trust_window_s, allowed_origins)"
            " VALUES ('shop', 'Shop', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                LOGIN_URL,
                SIGNUP_URL,
                "Welcome! Log in at {login_url} or sign up at {signup_url}.",
                "Hi {first_name}, how can we help?",
                int(onboarding_enabled),
                onboarding_identity,
                trust_window_s,
                json.dumps(["http://127.0.0.1"]),
            ),
        )
        for name in ("Chat", "Returns", "Billing"):
            conn.execute("INSERT INTO inboxes (name) VALUES (?)", (name,))
        for handle in agents:
            conn.execute(
                "INSERT INTO agents (handle, name, capacity) VALUES (?, ?, ?)",
                (handle, handle.title() + " Agent", capacity),
            )


def file_digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_row(desk: Desk, sql: str, params: tuple = ()) -> sqlite3.Row:
    """The single row a query must return (fails the test when there is none)."""
    row = desk.query_one(sql, params)
    assert row is not None, f"no row for {sql}"
    return row


def set_agents(desk: Desk, sql_set: str, handles: tuple[str, ...] = ()) -> None:
    """`UPDATE agents SET <sql_set>` for the given handles (every agent when none are given)."""
    with desk.transaction() as conn:
        if handles:
            marks = ", ".join("?" for _ in handles)
            conn.execute(f"UPDATE agents SET {sql_set} WHERE handle IN ({marks})", handles)
        else:
            conn.execute(f"UPDATE agents SET {sql_set}")


def run_cli(db: Path | str, *args: str) -> Result:
    """`gladdesk --db DB ARGS...` through click's runner (stdout and stderr apart)."""
    from click.testing import CliRunner

    from cli.main import main

    return CliRunner().invoke(main, ["--db", str(db), *args])


def cli_ok(db: Path | str, *args: str) -> str:
    """What `gladdesk --db DB ARGS...` prints, failing the test unless it exits 0."""
    result = run_cli(db, *args)
    assert result.exit_code == 0, result.output
    return result.stdout
