"""Helpers of the in-process web tests (tests/unit/test_web_*.py, tests/security/)."""

from __future__ import annotations

import base64
import shutil
import sqlite3
from pathlib import Path
from typing import Any


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


def lift_budgets(db: Path, app_id: str | None = None) -> None:
    """Turn an app's flood budgets off (every app's when `app_id` is None), for tests that
    play many customers from one address. Before the server first reads the app."""
    from core.budgets import BUDGET_DEFAULTS

    assignments = ", ".join(f"{name} = 0" for name in BUDGET_DEFAULTS)
    with sqlite3.connect(db) as conn:
        conn.execute(
            f"UPDATE apps SET {assignments} WHERE ? IS NULL OR app_id = ?", (app_id, app_id)
        )
    conn.close()
