"""The token audit, read back: why a session is not verified (docs/trust-model.md#the-token-audit).

`gladdesk audit` and `GET /api/v1/audit` list rejected identity tokens newest first, with
the key they named, the session and app they were presented in and who that session claimed
to be at the time; never the token. Checks made with `gladdesk verify` are listed too,
marked `origin: cli`. Filters are checked here, once, for both: a bad one is an `AuditError`
naming the input (`attr` says which), and nothing is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.clock import iso
from core.errors import DeskError
from core.store import Desk, Row
from core.store.audit import AuditFilter, AuditKey, rejections_page
from core.store.keys import app_ids

#: Rows a page holds at most (a larger limit is cut to this), and by default.
MAX_AUDIT_PAGE = 500
DEFAULT_AUDIT_PAGE = 50
#: `--since 90m`: a duration back from the desk's now.
_DURATION_RE = re.compile(r"(\d{1,9})\s*([smhd])")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
#: Further back than this is not a duration anyone means (about 100 years).
_MAX_BACK_MS = 36_500 * 86_400_000
_CURSOR_RE = re.compile(r"(\d{1,16})\.(\d{1,19})")
MAX_FILTER_CHARS = 100


class AuditError(DeskError):
    """A bad audit filter; `attr` names it (`since`, `code`, `session`, `app`, `cursor`)."""

    code = "invalid"

    def __init__(self, attr: str, reason: str) -> None:
        super().__init__(f"{attr}: {reason}")
        self.attr = attr
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ClaimedIdentity:
    """Who the presenting session was identified as when the token was rejected."""

    state: str  # CLAIMED or TRUSTED
    profile_id: int
    name: str | None
    email: str | None
    phone: str | None

    def label(self) -> str:
        contact = self.email or self.phone
        who = f"{self.name} <{contact}>" if self.name and contact else (self.name or contact)
        return f"{who or f'profile #{self.profile_id}'} ({self.state.lower()})"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One rejected token."""

    id: int
    at: int
    code: str
    kid: str | None
    app_id: str | None
    session_id: str | None
    origin: str  # widget or cli
    detail: str
    client_address: str | None
    claimed: ClaimedIdentity | None

    @property
    def key(self) -> AuditKey:
        return (self.at, self.id)


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: tuple[AuditEntry, ...]
    #: Pass back as `cursor` for the next (older) page; None on the last page.
    next_cursor: str | None


def parse_since(value: object, now_ms: int) -> int:
    """`--since`: a UTC day (2026-11-20), an ISO time (2026-11-20T09:00Z; naive is UTC) or a
    duration back from `now_ms` (90s, 15m, 2h, 7d). Epoch ms, or AuditError."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > 40:
        raise AuditError("since", f"{_shown(value)} is not a time; {_SINCE_FORMS}")
    duration = _DURATION_RE.fullmatch(text)
    if duration is not None:
        back = int(duration.group(1)) * _UNIT_MS[duration.group(2)]
        if back > _MAX_BACK_MS:
            raise AuditError("since", f"{text!r} reaches back over 100 years")
        return now_ms - back
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise AuditError("since", f"{_shown(value)} is not a time; {_SINCE_FORMS}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


_SINCE_FORMS = "use a day (2026-11-20), a UTC time (2026-11-20T09:00Z) or a duration (15m, 2h, 7d)"


def _shown(value: object) -> str:
    return repr(value)[:50] if isinstance(value, str) else type(value).__name__


def audit_filter(
    desk: Desk,
    *,
    since: object = None,
    code: object = None,
    session: object = None,
    app: object = None,
) -> AuditFilter:
    """The filters of `gladdesk audit` and `GET /api/v1/audit`, checked; AuditError names the
    first bad one."""
    from core.identity import REJECTION_CODES

    if code is not None and code not in REJECTION_CODES:
        raise AuditError(
            "code", f"{_shown(code)} is not a rejection code (known: {', '.join(REJECTION_CODES)})"
        )
    if session is not None and not _plain_text(session):
        raise AuditError(
            "session", f"a widget session id, like ws_..., of at most {MAX_FILTER_CHARS} characters"
        )
    if app is not None:
        apps = app_ids(desk)
        if app not in apps:
            known = ", ".join(str(a) for a in apps) or "none"
            raise AuditError("app", f"{_shown(app)} is not an app of this desk (known: {known})")
    return AuditFilter(
        since=None if since is None else parse_since(since, desk.clock.now_ms()),
        code=code if isinstance(code, str) else None,
        session_id=session if isinstance(session, str) else None,
        app_id=app if isinstance(app, str) else None,
    )


def _plain_text(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_FILTER_CHARS
        and value.isprintable()
        and value.strip() == value
    )


def parse_cursor(value: object) -> AuditKey:
    """A `next_cursor` this module gave, or AuditError."""
    match = _CURSOR_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match.group(2)) >= 1 << 63:
        raise AuditError("cursor", "not a cursor an audit page gave; start without one")
    return int(match.group(1)), int(match.group(2))


def audit_page(
    desk: Desk,
    wanted: AuditFilter,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_AUDIT_PAGE,
) -> AuditPage:
    """Up to `limit` (at most MAX_AUDIT_PAGE) rejections matching `wanted`, newest first,
    older than `cursor`."""
    after = None if cursor is None else parse_cursor(cursor)
    limit = max(1, min(limit, MAX_AUDIT_PAGE))
    rows = rejections_page(desk, wanted, after=after, limit=limit + 1)
    entries = tuple(_entry(row) for row in rows[:limit])
    more = len(rows) > limit
    return AuditPage(entries, f"{entries[-1].at}.{entries[-1].id}" if more else None)


def _entry(row: Row) -> AuditEntry:
    claimed = None
    if row["profile_id"] is not None and row["session_state"] in ("CLAIMED", "TRUSTED"):
        claimed = ClaimedIdentity(
            state=row["session_state"],
            profile_id=int(row["profile_id"]),
            name=row["profile_name"],
            email=row["profile_email"],
            phone=row["profile_phone"],
        )
    return AuditEntry(
        id=int(row["id"]),
        at=int(row["at"]),
        code=row["code"],
        kid=row["kid"],
        app_id=row["app_id"],
        session_id=row["session_id"],
        origin=row["origin"],
        detail=row["detail"],
        client_address=row["client_address"],
        claimed=claimed,
    )


def audit_entry_dict(entry: AuditEntry) -> dict[str, Any]:
    """One rejection as JSON (`gladdesk audit --json`, `GET /api/v1/audit`)."""
    claimed = entry.claimed
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "code": entry.code,
        "kid": entry.kid,
        "appId": entry.app_id,
        "sessionId": entry.session_id,
        "origin": entry.origin,
        "detail": entry.detail,
        "clientAddress": entry.client_address,
        "claimed": None
        if claimed is None
        else {
            "state": claimed.state,
            "profileId": claimed.profile_id,
            "name": claimed.name,
            "email": claimed.email,
            "phone": claimed.phone,
        },
    }


AUDIT_COLUMNS = ("TIME (UTC)", "CODE", "KEY", "APP", "SESSION", "CLAIMED", "ORIGIN")


def audit_table(entries: tuple[AuditEntry, ...] | list[AuditEntry]) -> str:
    """Rejections as a plain-text table, one line each (every cell stripped of control and
    bidi characters: key ids and names come from outside)."""
    rows = [
        (
            (iso(entry.at) or "")[:19].replace("T", " "),
            entry.code,
            entry.kid or "-",
            entry.app_id or "-",
            entry.session_id or "-",
            entry.claimed.label() if entry.claimed else "-",
            entry.origin,
        )
        for entry in entries
    ]
    table = [AUDIT_COLUMNS, *(tuple(_cell(c) for c in row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(AUDIT_COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    ]
    return "\n".join(lines) + "\n"


def _cell(text: str, limit: int = 60) -> str:
    """Printable text only, at most `limit` characters."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"
