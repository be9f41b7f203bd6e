"""Helpers of the in-process web tests (tests/unit/test_web_*.py, tests/security/)."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

from core.store import Desk

#: Where a desk is: a file, or the URL of a PostgreSQL database (what `Desk.open` takes).
DeskAt = Path | str


def copy_desk(built: Path, folder: Path) -> Path:
    """A desk file with its sidecars (keystore, rules) copied into `folder`."""
    for source in built.parent.glob(built.name + "*"):
        shutil.copy(source, folder / source.name)
    return folder / built.name


def basic(email: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()}


def error(response: Any) -> dict[str, Any]:
    """The one error of an answer in the envelope `{"errors": [{attr, code, detail}]}`."""
    body = response.json()
    assert set(body) == {"errors"}, body
    assert body["errors"] and set(body["errors"][0]) == {"attr", "code", "detail"}
    return body["errors"][0]  # type: ignore[no-any-return]


def rows(db: DeskAt, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """What a read of the desk at `db` answers, as plain tuples (either backend)."""
    with Desk.open(db, create=False) as desk:
        return [tuple(row) for row in desk.query(sql, params)]


def records(db: DeskAt, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """What a read of the desk at `db` answers, each row as {column: value}."""
    with Desk.open(db, create=False) as desk:
        return [dict(zip(row.keys(), tuple(row), strict=True)) for row in desk.query(sql, params)]


def last_event(db: DeskAt) -> int:
    """The id of the desk's newest change-feed row."""
    return int(rows(db, "SELECT coalesce(max(id), 0) FROM events")[0][0])


def count(db: DeskAt, table: str) -> int:
    return int(rows(db, f"SELECT count(*) FROM {table}")[0][0])


def lift_budgets(db: DeskAt, app_id: str | None = None) -> None:
    """Turn an app's flood budgets off (every app's when `app_id` is None), for tests that
    play many customers from one address. Before the server first reads the app."""
    from core.budgets import BUDGET_DEFAULTS

    assignments = ", ".join(f"{name} = 0" for name in BUDGET_DEFAULTS)
    with Desk.open(db, create=False) as desk, desk.transaction() as tx:
        tx.execute(f"UPDATE apps SET {assignments} WHERE ? IS NULL OR app_id = ?", (app_id, app_id))
