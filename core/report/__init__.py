"""The authentication report (docs/reports.md), computed from the store.

For a range of UTC days: how many conversations became authenticated, per day and per
inbox; how each became trusted (its `trust_path`: before routing, after routing, never,
different identity); the median time from chat start (`created_at`) to authentication; and
rejected identity tokens by reason code (`token_audit`). A conversation counts on the UTC day
it started, even when it was authenticated after midnight. Days without conversations are
listed with zeros, so a chart shows the gap.

Without `since`/`until`, the range runs from the first to the last day with a conversation or
a rejected token. `report_json` is what `GET /api/v1/reports/authentication` returns.

The modules: `figures` computes the report (its SQL is in `core.store.reports`), `formats`
writes it as JSON-ready data, CSV or text tables.
"""

from core.report.figures import (
    DAY_BASIS,
    DAY_MS,
    MAX_RANGE_DAYS,
    PATH_LABELS,
    AuthReport,
    CountRow,
    PathRow,
    RejectionRow,
    ReportError,
    authentication_report,
    check_range,
    day_of,
    day_start_ms,
    parse_day,
)
from core.report.formats import (
    CSV_COLUMNS,
    bar,
    duration,
    percent,
    report_csv,
    report_dict,
    report_from_dict,
    report_json,
    report_table,
    seconds,
)

__all__ = [
    "CSV_COLUMNS",
    "DAY_BASIS",
    "DAY_MS",
    "MAX_RANGE_DAYS",
    "PATH_LABELS",
    "AuthReport",
    "CountRow",
    "PathRow",
    "RejectionRow",
    "ReportError",
    "authentication_report",
    "bar",
    "check_range",
    "day_of",
    "day_start_ms",
    "duration",
    "parse_day",
    "percent",
    "report_csv",
    "report_dict",
    "report_from_dict",
    "report_json",
    "report_table",
    "seconds",
]
