"""The authentication report (docs/reports.md), computed from the store.

For a range of UTC days: how many conversations became authenticated, per day and per
inbox; how each became trusted (its `trust_path`: before routing, after routing, never,
different identity); the median time from chat start (`created_at`) to authentication; and
rejected identity tokens by reason code (`token_audit`). A conversation counts on the UTC day
it started, even when it was authenticated after midnight. Days without conversations are
listed with zeros, so a chart shows the gap.

Without `since`/`until`, the range runs from the first to the last day with a conversation or
a rejected token. `report_json` is what `GET /api/v1/reports/authentication` returns.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from core.errors import DeskError
from core.store import Desk
from core.store.schema import TRUST_PATHS

DAY_MS = 86_400_000
EPOCH = date(1970, 1, 1)
#: The paths that mean "the conversation became trusted".
TRUSTED_PATHS = ("before_routing", "after_routing", "different_identity")
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


# -- the report ---------------------------------------------------------------------------


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
    low = day_start_ms(first) if first is not None else None
    high = day_start_ms(last) + DAY_MS if last is not None else None
    with desk.reading() as conn:
        if first is None or last is None:
            bounds = conn.execute(
                "SELECT min(lo), max(hi) FROM ("
                " SELECT min(created_at) AS lo, max(created_at) AS hi FROM conversations"
                "  WHERE created_at >= ? AND created_at < ?"
                " UNION ALL"
                " SELECT min(at), max(at) FROM token_audit WHERE at >= ? AND at < ?)",
                (low or 0, high or 1 << 62, low or 0, high or 1 << 62),
            ).fetchone()
            if bounds[0] is not None:
                first = first or day_of(bounds[0])
                last = last or day_of(bounds[1])
            elif first is not None or last is not None:
                first = last = first or last
        if first is None or last is None:
            return AuthReport(None, None, 0, 0, None, (), (), (), ())
        low, high = day_start_ms(first), day_start_ms(last) + DAY_MS
        trusted = ", ".join(f"'{path}'" for path in TRUSTED_PATHS)
        authenticated = f"sum(CASE WHEN c.trust_path IN ({trusted}) THEN 1 ELSE 0 END)"
        by_day = {
            row[0]: (row[1], row[2])
            for row in conn.execute(
                f"SELECT c.created_at / {DAY_MS}, count(*), {authenticated}"
                " FROM conversations c WHERE c.created_at >= ? AND c.created_at < ?"
                f" GROUP BY c.created_at / {DAY_MS}",
                (low, high),
            )
        }
        inbox_rows = conn.execute(
            f"SELECT i.name, count(c.id), coalesce({authenticated}, 0) FROM inboxes i"
            " LEFT JOIN conversations c ON c.inbox_id = i.id"
            "  AND c.created_at >= ? AND c.created_at < ?"
            " GROUP BY i.id, i.name ORDER BY i.id",
            (low, high),
        ).fetchall()
        path_counts = {
            row[0]: row[1]
            for row in conn.execute(
                "SELECT coalesce(trust_path, 'never'), count(*) FROM conversations"
                " WHERE created_at >= ? AND created_at < ? GROUP BY 1",
                (low, high),
            )
        }
        waits: dict[str, list[int]] = {}
        for path, wait in conn.execute(
            "SELECT trust_path, authenticated_at - created_at FROM conversations"
            f" WHERE created_at >= ? AND created_at < ? AND trust_path IN ({trusted})"
            " AND authenticated_at IS NOT NULL",
            (low, high),
        ):
            waits.setdefault(path, []).append(max(0, wait))
        rejections = tuple(
            RejectionRow(code, count)
            for code, count in conn.execute(
                "SELECT code, count(*) FROM token_audit WHERE at >= ? AND at < ?"
                " GROUP BY code ORDER BY count(*) DESC, code",
                (low, high),
            )
        )
    days = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        total, authed = by_day.get((day - EPOCH).days, (0, 0))
        days.append(CountRow(day.isoformat(), total, authed))
    conversations = sum(row.conversations for row in days)
    paths = tuple(
        PathRow(
            path,
            path_counts.get(path, 0),
            _share(path_counts.get(path, 0), conversations),
            _median(waits.get(path, [])),
        )
        for path in _ordered_paths(path_counts)
    )
    return AuthReport(
        since=first,
        until=last,
        conversations=conversations,
        authenticated=sum(row.authenticated for row in days),
        median_to_auth_ms=_median([wait for values in waits.values() for wait in values]),
        days=tuple(days),
        inboxes=tuple(CountRow(name, total, authed) for name, total, authed in inbox_rows),
        paths=paths,
        rejections=rejections,
    )


def _ordered_paths(found: Iterable[str]) -> list[str]:
    """Every known path (zeros included) in a fixed order, then any unexpected one."""
    order = ["before_routing", "after_routing", "different_identity", "never"]
    assert set(order) == set(TRUST_PATHS)
    return order + sorted(set(found) - set(order))


# -- output -------------------------------------------------------------------------------


def seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def report_dict(report: AuthReport) -> dict[str, Any]:
    """The report as JSON-ready data (CLI `--format json` and the HTTP API)."""

    def counts(row: CountRow, key: str) -> dict[str, Any]:
        return {
            key: row.key,
            "conversations": row.conversations,
            "authenticated": row.authenticated,
            "share": _ratio(row.share),
        }

    return {
        "report": "authentication",
        "since": report.since.isoformat() if report.since else None,
        "until": report.until.isoformat() if report.until else None,
        "day_basis": DAY_BASIS,
        "totals": {
            "conversations": report.conversations,
            "authenticated": report.authenticated,
            "share": _ratio(report.share),
            "median_seconds_to_authenticate": seconds(report.median_to_auth_ms),
            "rejected_tokens": report.rejected,
        },
        "days": [counts(row, "day") for row in report.days],
        "inboxes": [counts(row, "inbox") for row in report.inboxes],
        "trust_paths": [
            {
                "path": row.path,
                "conversations": row.conversations,
                "share": _ratio(row.share),
                "median_seconds_to_authenticate": seconds(row.median_to_auth_ms),
            }
            for row in report.paths
        ],
        "rejected_tokens": [{"code": row.code, "count": row.count} for row in report.rejections],
    }


def report_json(
    desk: Desk, *, since: date | str | None = None, until: date | str | None = None
) -> dict[str, Any]:
    """`GET /api/v1/reports/authentication?since=&until=`. Bad dates raise ReportError."""
    return report_dict(authentication_report(desk, since=since, until=until))


CSV_COLUMNS = (
    "section",
    "key",
    "conversations",
    "authenticated",
    "share",
    "median_seconds_to_authenticate",
    "count",
)


def report_csv(report: AuthReport) -> str:
    """One CSV table; `section` is total, day, inbox, trust_path or rejected_token."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def cell(value: object) -> object:
        return "" if value is None else value

    writer.writerow(
        [
            "total",
            f"{report.since or ''}..{report.until or ''}",
            report.conversations,
            report.authenticated,
            cell(_ratio(report.share)),
            cell(seconds(report.median_to_auth_ms)),
            report.rejected,
        ]
    )
    for section, rows in (("day", report.days), ("inbox", report.inboxes)):
        for row in rows:
            writer.writerow(
                [
                    section,
                    row.key,
                    row.conversations,
                    row.authenticated,
                    cell(_ratio(row.share)),
                    "",
                    "",
                ]
            )
    for path in report.paths:
        writer.writerow(
            [
                "trust_path",
                path.path,
                path.conversations,
                "",
                cell(_ratio(path.share)),
                cell(seconds(path.median_to_auth_ms)),
                "",
            ]
        )
    for rejection in report.rejections:
        writer.writerow(["rejected_token", rejection.code, "", "", "", "", rejection.count])
    return out.getvalue()


def duration(ms: int | None) -> str:
    """A short human duration: `0s`, `45s`, `3m 20s`, `2h 05m`, `3d 4h`; `-` for none."""
    if ms is None:
        return "-"
    total = round(ms / 1000)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def bar(share: float | None, width: int) -> str:
    """A bar of `width` cells filled to `share`, in eighths of a cell."""
    if not share:
        return ""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + ("" if not rest else " ▏▎▍▌▋▊▉"[rest])


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Columns: the first left-aligned, the rest right-aligned, the last (a bar) as is."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(row[0]).ljust(widths[0])]
        cells += [str(v).rjust(w) for v, w in zip(row[1:-1], widths[1:], strict=True)]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return lines


def report_table(report: AuthReport, *, bar_width: int = 20) -> str:
    """The report as plain-text tables with bars (the CLI's default format)."""
    if report.since is None:
        return "Authentication report: no conversations and no rejected tokens yet.\n"
    lines = [
        f"Authentication report, {report.since} to {report.until}",
        DAY_BASIS,
        "",
        f"Conversations {report.conversations}, authenticated {report.authenticated}"
        f" ({percent(report.share)}), median time to authenticate"
        f" {duration(report.median_to_auth_ms)}, rejected tokens {report.rejected}",
    ]

    def counts(title: str, key: str, rows: tuple[CountRow, ...]) -> None:
        lines.extend(["", title])
        lines.extend(
            _table(
                (key, "conversations", "authenticated", "share", ""),
                [
                    (
                        row.key,
                        str(row.conversations),
                        str(row.authenticated),
                        percent(row.share),
                        bar(row.share, bar_width),
                    )
                    for row in rows
                ],
            )
        )

    counts("Per day", "day (UTC)", report.days)
    counts("Per inbox", "inbox", report.inboxes)
    lines.extend(["", "How conversations became trusted"])
    lines.extend(
        _table(
            ("trust path", "conversations", "share", "median to auth", ""),
            [
                (
                    row.label,
                    str(row.conversations),
                    percent(row.share),
                    duration(row.median_to_auth_ms),
                    bar(row.share, bar_width),
                )
                for row in report.paths
            ],
        )
    )
    lines.extend(["", "Rejected tokens by reason"])
    if report.rejections:
        top = max(row.count for row in report.rejections)
        lines.extend(
            _table(
                ("reason", "count", ""),
                [
                    (row.code, str(row.count), bar(row.count / top, bar_width))
                    for row in report.rejections
                ],
            )
        )
    else:
        lines.append("none")
    return "\n".join(lines) + "\n"
