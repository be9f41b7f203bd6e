"""The report as JSON-ready data (CLI `--format json`, the HTTP API), CSV, and plain-text
tables with bars (the CLI's default); the short durations, percentages and bars the console
shows too.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from core.report.figures import (
    DAY_BASIS,
    AuthReport,
    CountRow,
    PathRow,
    RejectionRow,
    authentication_report,
)
from core.store import Desk


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
    lines += _counts_table("Per day", "day (UTC)", report.days, bar_width)
    lines += _counts_table("Per inbox", "inbox", report.inboxes, bar_width)
    lines += _paths_table(report, bar_width)
    lines += _rejections_table(report, bar_width)
    return "\n".join(lines) + "\n"


def _counts_table(title: str, key: str, rows: tuple[CountRow, ...], bar_width: int) -> list[str]:
    return [
        "",
        title,
        *_table(
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
        ),
    ]


def _paths_table(report: AuthReport, bar_width: int) -> list[str]:
    return [
        "",
        "How conversations became trusted",
        *_table(
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
        ),
    ]


def _rejections_table(report: AuthReport, bar_width: int) -> list[str]:
    if not report.rejections:
        return ["", "Rejected tokens by reason", "none"]
    top = max(row.count for row in report.rejections)
    return [
        "",
        "Rejected tokens by reason",
        *_table(
            ("reason", "count", ""),
            [
                (row.code, str(row.count), bar(row.count / top, bar_width))
                for row in report.rejections
            ],
        ),
    ]


def report_from_dict(data: dict[str, Any]) -> AuthReport:
    """The report back from `report_dict`'s JSON (what a console over the network reads from
    `GET /agent/v1/reports/authentication`). Shares are recomputed from the counts; a path's
    share keeps the four places the JSON has. KeyError, TypeError or ValueError when `data`
    is not such a report."""

    def day(value: Any) -> date | None:
        return None if value is None else date.fromisoformat(value)

    def ms(value: Any) -> int | None:
        return None if value is None else round(float(value) * 1000)

    def counts(rows: list[dict[str, Any]], key: str) -> tuple[CountRow, ...]:
        return tuple(
            CountRow(str(row[key]), int(row["conversations"]), int(row["authenticated"]))
            for row in rows
        )

    totals = data["totals"]
    return AuthReport(
        since=day(data["since"]),
        until=day(data["until"]),
        conversations=int(totals["conversations"]),
        authenticated=int(totals["authenticated"]),
        median_to_auth_ms=ms(totals["median_seconds_to_authenticate"]),
        days=counts(data["days"], "day"),
        inboxes=counts(data["inboxes"], "inbox"),
        paths=tuple(
            PathRow(
                path=str(row["path"]),
                conversations=int(row["conversations"]),
                share=None if row["share"] is None else float(row["share"]),
                median_to_auth_ms=ms(row["median_seconds_to_authenticate"]),
            )
            for row in data["trust_paths"]
        ),
        rejections=tuple(
            RejectionRow(str(row["code"]), int(row["count"])) for row in data["rejected_tokens"]
        ),
    )
