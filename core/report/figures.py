"""The report's figures: the range of days, then counts, shares and medians from the store.

A conversation counts on the UTC day it started, even when it was authenticated after
midnight; days without conversations are listed with zeros. Without `since`/`until`, the range
runs from the first to the last day with a conversation or a rejected token.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.errors import DeskError
from core.store import Desk, reports
from core.store.reports import DAY_MS
from core.store.schema import TRUST_PATHS

EPOCH = date(1970, 1, 1)
PATH_LABELS = {
    "before_routing": "before routing",
    "after_routing": "after routing",
    "never": "never",
    "different_identity": "different identity",
}
DAY_BASIS = "Days are UTC; a conversation counts on the day it started."
#: Longest explicit range, in days: a report of every day since year 1 helps nobody.
MAX_RANGE_DAYS = 3661
_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ReportError(DeskError):
    """A report asked for with bad dates."""

    code = "invalid"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class CountRow:
    """Conversations and how many of them were authenticated, for one day or inbox."""

    key: str
    conversations: int
    authenticated: int

    @property
    def share(self) -> float | None:
        return _share(self.authenticated, self.conversations)


@dataclass(frozen=True, slots=True)
class PathRow:
    path: str
    conversations: int
    share: float | None  # of all conversations in the range
    median_to_auth_ms: int | None

    @property
    def label(self) -> str:
        return PATH_LABELS.get(self.path, self.path)


@dataclass(frozen=True, slots=True)
class RejectionRow:
    code: str
    count: int


@dataclass(frozen=True, slots=True)
class AuthReport:
    since: date | None  # None only when the desk has no data and no range was given
    until: date | None
    conversations: int
    authenticated: int
    median_to_auth_ms: int | None
    days: tuple[CountRow, ...]
    inboxes: tuple[CountRow, ...]
    paths: tuple[PathRow, ...]
    rejections: tuple[RejectionRow, ...]

    @property
    def share(self) -> float | None:
        return _share(self.authenticated, self.conversations)

    @property
    def rejected(self) -> int:
        return sum(row.count for row in self.rejections)


def parse_day(value: object, what: str) -> date:
    """A `YYYY-MM-DD` day, or ReportError naming the input."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DAY_RE.fullmatch(value.strip()):
        shown = repr(value)[:40]
        raise ReportError(f"{what}: {shown} is not a day; use YYYY-MM-DD, e.g. 2026-11-20")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ReportError(f"{what}: {value.strip()!r} is not a day ({exc})") from None


def day_start_ms(day: date) -> int:
    return (day - EPOCH).days * DAY_MS


def day_of(ms: int) -> date:
    return EPOCH + timedelta(days=ms // DAY_MS)


def check_range(since: date | None, until: date | None) -> None:
    if since is not None and until is not None:
        if since > until:
            raise ReportError(f"since {since} is after until {until}; swap them")
        if (until - since).days + 1 > MAX_RANGE_DAYS:
            raise ReportError(
                f"{since} to {until} is over {MAX_RANGE_DAYS} days; ask for a shorter range"
            )


def _median(values: list[int]) -> int | None:
    return round(statistics.median(values)) if values else None


def authentication_report(
    desk: Desk, *, since: date | str | None = None, until: date | str | None = None
) -> AuthReport:
    """The report for the UTC days `since` to `until`, both included."""
    first = parse_day(since, "since") if since is not None else None
    last = parse_day(until, "until") if until is not None else None
    check_range(first, last)
    with desk.reading() as conn:
        if first is None or last is None:
            span = reports.activity_span(conn, *_open_bounds_ms(first, last))
            first, last = _fill_open_ends(first, last, span)
        if first is None or last is None:
            return AuthReport(None, None, 0, 0, None, (), (), (), ())
        low, high = day_start_ms(first), day_start_ms(last) + DAY_MS
        by_day = reports.conversations_by_day(conn, low, high)
        inbox_rows = reports.conversations_by_inbox(conn, low, high)
        path_counts = reports.trust_path_counts(conn, low, high)
        waits = _waits_by_path(reports.authentication_waits(conn, low, high))
        rejections = tuple(
            RejectionRow(code, count)
            for code, count in reports.rejected_token_counts(conn, low, high)
        )
    days = _days(first, last, by_day)
    conversations = sum(row.conversations for row in days)
    return AuthReport(
        since=first,
        until=last,
        conversations=conversations,
        authenticated=sum(row.authenticated for row in days),
        median_to_auth_ms=_median([wait for values in waits.values() for wait in values]),
        days=days,
        inboxes=tuple(CountRow(name, total, authed) for name, total, authed in inbox_rows),
        paths=_paths(path_counts, waits, conversations),
        rejections=rejections,
    )


def _open_bounds_ms(first: date | None, last: date | None) -> tuple[int, int]:
    """The range in ms, an open end reaching from 1970 or to the far future."""
    low = day_start_ms(first) if first is not None else None
    high = day_start_ms(last) + DAY_MS if last is not None else None
    return low or 0, high or 1 << 62


def _fill_open_ends(
    first: date | None, last: date | None, span: tuple[int, int] | None
) -> tuple[date | None, date | None]:
    """An open end set to the first or last day with data in `span` (ms), or to the other end
    when there is none; (None, None) when nothing was asked and there is no data."""
    if span is not None:
        return first or day_of(span[0]), last or day_of(span[1])
    if first is not None or last is not None:
        first = last = first or last
    return first, last


def _waits_by_path(waits: Iterable[tuple[str, int]]) -> dict[str, list[int]]:
    """Times to authenticate by trust path; a negative time counts as zero."""
    by_path: dict[str, list[int]] = {}
    for path, wait in waits:
        by_path.setdefault(path, []).append(max(0, wait))
    return by_path


def _days(first: date, last: date, by_day: dict[int, tuple[int, int]]) -> tuple[CountRow, ...]:
    """One row a day from `first` to `last`, zeros for a day without conversations."""
    days = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        total, authed = by_day.get((day - EPOCH).days, (0, 0))
        days.append(CountRow(day.isoformat(), total, authed))
    return tuple(days)


def _paths(
    path_counts: dict[str, int], waits: dict[str, list[int]], conversations: int
) -> tuple[PathRow, ...]:
    return tuple(
        PathRow(
            path,
            path_counts.get(path, 0),
            _share(path_counts.get(path, 0), conversations),
            _median(waits.get(path, [])),
        )
        for path in _ordered_paths(path_counts)
    )


def _ordered_paths(found: Iterable[str]) -> list[str]:
    """Every known path (zeros included) in a fixed order, then any unexpected one."""
    order = ["before_routing", "after_routing", "different_identity", "never"]
    assert set(order) == set(TRUST_PATHS)
    return order + sorted(set(found) - set(order))
