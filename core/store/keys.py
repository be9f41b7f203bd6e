"""The identity tables: `signing_keys` rows, the keyring version, jti bindings, token audit.

A `signing_keys` row holds metadata and public material only (docs/tokens.md, rule 9):
secrets live in the keystore file beside the database. Every change to the keyring emits
`keys.changed` and records that event's id in the `keyring.version` setting, in the same
transaction, so a running verifier notices it with one primary-key read.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import Conflict
from core.store.desk import Desk

KEYS_CHANGED = "keys.changed"
VERSION_SETTING = "keyring.version"

_COLUMNS = (
    "kid, alg, source, public_material, jwks_url, issuer, audience, status, fingerprint,"
    " demo_only, created_at, retired_at, apps"
)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What `keys list` shows about a key. Never a secret."""

    kid: str
    alg: str
    source: str
    status: str
    issuer: str | None
    audience: str | None
    fingerprint: str | None
    demo_only: bool
    created_at: int
    retired_at: int | None
    jwks_url: str | None
    apps: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def _key_info(row: sqlite3.Row) -> KeyInfo:
    return KeyInfo(
        kid=row["kid"],
        alg=row["alg"],
        source=row["source"],
        status=row["status"],
        issuer=row["issuer"],
        audience=row["audience"],
        fingerprint=row["fingerprint"],
        demo_only=bool(row["demo_only"]),
        created_at=row["created_at"],
        retired_at=row["retired_at"],
        jwks_url=row["jwks_url"],
        apps=key_apps(row["apps"]),
    )


def key_apps(text: str | None) -> tuple[str, ...]:
    """The apps a key is bound to, from its `apps` column (a JSON list)."""
    if not text:
        return ()
    try:
        apps = json.loads(text)
    except ValueError:
        return ()
    return tuple(a for a in apps if isinstance(a, str)) if isinstance(apps, list) else ()


# -- signing_keys -------------------------------------------------------------------------------


def key_rows(desk: Desk) -> list[sqlite3.Row]:
    """Every key row, public material included, oldest first."""
    return desk.query(f"SELECT {_COLUMNS} FROM signing_keys ORDER BY created_at, kid")


def key_infos(desk: Desk) -> list[KeyInfo]:
    """Every key as `keys list` shows it, oldest first."""
    return [_key_info(row) for row in key_rows(desk)]


def key_info(conn: sqlite3.Connection, kid: str) -> KeyInfo | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM signing_keys WHERE kid = ?", (kid,)).fetchone()
    return None if row is None else _key_info(row)


def key_infos_of(conn: sqlite3.Connection, kids: list[str]) -> list[KeyInfo]:
    """The keys named by `kids` (the ones an add just wrote)."""
    rows = conn.execute(
        f"SELECT * FROM signing_keys WHERE kid IN ({','.join('?' * len(kids))})", kids
    ).fetchall()
    return [_key_info(row) for row in rows]


def insert_key(
    conn: sqlite3.Connection,
    *,
    kid: str,
    alg: str,
    source: str,
    at: int,
    public_material: str | None = None,
    jwks_url: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    fingerprint: str | None = None,
    demo_only: bool = False,
    apps: tuple[str, ...] = (),
) -> None:
    """Add an active key row; a kid that exists (even retired) is a Conflict."""
    existing = conn.execute("SELECT status FROM signing_keys WHERE kid = ?", (kid,)).fetchone()
    if existing is not None:
        raise Conflict(
            f"kid {kid!r} already exists ({existing[0]}); key ids are never reused, pick another"
        )
    conn.execute(
        "INSERT INTO signing_keys (kid, alg, source, public_material, jwks_url, issuer, audience,"
        " status, fingerprint, demo_only, created_at, apps)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)",
        (
            kid,
            alg,
            source,
            public_material,
            jwks_url,
            issuer,
            audience,
            fingerprint,
            int(demo_only),
            at,
            json.dumps(sorted(set(apps))),
        ),
    )


def mark_retired(conn: sqlite3.Connection, kid: str, at: int) -> None:
    conn.execute(
        "UPDATE signing_keys SET status = 'retired', retired_at = ? WHERE kid = ?", (at, kid)
    )


# -- the desk's own key -----------------------------------------------------------------------


def desk_key_row(conn: sqlite3.Connection, kid: str) -> sqlite3.Row | None:
    """`source`, `fingerprint` and `status` of the key `kid`, if it exists."""
    return conn.execute(
        "SELECT source, fingerprint, status FROM signing_keys WHERE kid = ?", (kid,)
    ).fetchone()


def active_desk_kids(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT kid FROM signing_keys WHERE source = 'desk' AND status = 'active'"
    ).fetchall()
    return [row[0] for row in rows]


def newest_desk_key(conn: sqlite3.Connection) -> tuple[str, str] | None:
    """(kid, alg) of the desk's newest active signing key, if it has one."""
    row = conn.execute(
        "SELECT kid, alg FROM signing_keys WHERE source = 'desk' AND status = 'active'"
        " ORDER BY created_at DESC, rowid DESC LIMIT 1"
    ).fetchone()
    return None if row is None else (row["kid"], row["alg"])


def desk_key_demo_only(desk: Desk) -> bool:
    """Whether the desk's newest active signing key is a demo-only one (False without one)."""
    row = desk.query_one(
        "SELECT demo_only FROM signing_keys WHERE source = 'desk' AND status = 'active'"
        " ORDER BY created_at DESC LIMIT 1"
    )
    return row is not None and bool(row[0])


# -- the keyring version ------------------------------------------------------------------------


def keyring_version(desk: Desk) -> str | None:
    """The id of the last `keys.changed` event (one primary-key read)."""
    row = desk.query_one("SELECT value FROM settings WHERE key = ?", (VERSION_SETTING,))
    return row[0] if row else None


#: Key changes made by this process, per database file: lets a verifier notice them at once
#: while it checks the database for other processes' changes only every few ms.
_local_changes: dict[str, int] = {}


def changes_key(path: Path) -> str:
    """The key of `_local_changes` for a database file (resolved: one file, one key)."""
    return str(path.resolve())


def local_changes(key: str) -> int:
    return _local_changes.get(key, 0)


def mark_changed(desk: Desk, at: int) -> None:
    """Emit `keys.changed` and record it as the keyring version. Inside a transaction."""
    key = changes_key(desk.path)
    _local_changes[key] = _local_changes.get(key, 0) + 1
    event_id = desk.emit_marker(KEYS_CHANGED, at=at)
    desk.conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (VERSION_SETTING, str(event_id)),
    )


# -- apps a key may serve -----------------------------------------------------------------------


def app_ids(desk: Desk) -> list[str]:
    """The desk's configured apps, sorted."""
    return [r[0] for r in desk.query("SELECT app_id FROM apps ORDER BY app_id")]


def only_app(desk: Desk) -> str | None:
    """The desk's app when it has exactly one, else None."""
    apps = desk.query("SELECT app_id FROM apps LIMIT 2")
    return apps[0][0] if len(apps) == 1 else None


# -- jti bindings and the audit ---------------------------------------------------------------


def jti_uses(conn: sqlite3.Connection, scope: str, jti: str) -> list[tuple[str, str, int]]:
    """(scope, session_id, expires_at) of the bindings of `jti` in `scope` or in `*` (bindings
    from before scopes existed, which hold for every key)."""
    rows = conn.execute(
        "SELECT scope, session_id, expires_at FROM jti_uses WHERE scope IN (?, '*') AND jti = ?",
        (scope, jti),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def bind_jti(
    conn: sqlite3.Connection, *, scope: str, jti: str, session_id: str, at: int, expires_at: int
) -> None:
    """Bind `jti` of `scope` to `session_id` (replacing an older binding of it)."""
    conn.execute(
        "INSERT INTO jti_uses (scope, jti, session_id, bound_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, jti) DO UPDATE SET"
        " session_id = excluded.session_id, bound_at = excluded.bound_at,"
        " expires_at = excluded.expires_at",
        (scope, jti, session_id, at, expires_at),
    )


def forget_expired_jtis(conn: sqlite3.Connection, now: int) -> None:
    conn.execute("DELETE FROM jti_uses WHERE expires_at < ?", (now,))
