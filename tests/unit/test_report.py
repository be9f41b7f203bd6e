"""The authentication report (docs/reports.md) on a hand-built desk whose numbers are worked out here.

The desk (times UTC; inboxes Chat, Returns, Billing):

    id  started                  inbox    trust path          authenticated     wait
    1   03-01 09:00:00           Chat     before_routing      03-01 09:00:00    0 s
    2   03-01 23:50:00           Returns  after_routing       03-02 00:20:00    1800 s (over midnight)
    3   03-01 12:00:00           Chat     (NULL = never)      -
    -   03-02                    (no conversation)
    4   03-03 00:00:00.000       Billing  'never'             -
    5   03-03 23:59:30           Billing  different_identity  03-04 00:00:30    60 s (over midnight)
    -   03-04                    (no conversation)
    6   03-05 10:00:00           Returns  after_routing       03-05 10:02:00    120 s
    outside 03-01..03-05:
    7   02-28 23:59:59.999       Chat     before_routing      02-28 23:59:59.999  0 s
    8   03-06 00:00:00.000       Chat     (NULL = never)      -

Rejected tokens: 02-28 23:59 expired; 03-01 10:00 expired; 03-03 11:00 expired;
03-03 12:00 bad_signature; 03-06 00:00 replayed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from core.clock import ManualClock, parse_iso
from core.report import (
    MAX_RANGE_DAYS,
    CountRow,
    ReportError,
    authentication_report,
    bar,
    duration,
    report_csv,
    report_dict,
    report_json,
    report_table,
)
from core.store import Desk
from tests.helpers import seed_desk

CONVERSATIONS = [
    # id, started, inbox, trust_path, authenticated
    (1, "2026-03-01T09:00:00Z", "Chat", "before_routing", "2026-03-01T09:00:00Z"),
    (2, "2026-03-01T23:50:00Z", "Returns", "after_routing", "2026-03-02T00:20:00Z"),
    (3, "2026-03-01T12:00:00Z", "Chat", None, None),
    (4, "2026-03-03T00:00:00.000Z", "Billing", "never", None),
    (5, "2026-03-03T23:59:30Z", "Billing", "different_identity", "2026-03-04T00:00:30Z"),
    (6, "2026-03-05T10:00:00Z", "Returns", "after_routing", "2026-03-05T10:02:00Z"),
    (7, "2026-02-28T23:59:59.999Z", "Chat", "before_routing", "2026-02-28T23:59:59.999Z"),
    (8, "2026-03-06T00:00:00.000Z", "Chat", None, None),
]
REJECTIONS = [
    ("2026-02-28T23:59:00Z", "expired"),
    ("2026-03-01T10:00:00Z", "expired"),
    ("2026-03-03T11:00:00Z", "expired"),
    ("2026-03-03T12:00:00Z", "bad_signature"),
    ("2026-03-06T00:00:00Z", "replayed"),
]


def fill(desk: Desk) -> None:
    inbox_ids = {row[1]: row[0] for row in desk.query("SELECT id, name FROM inboxes")}
    with desk.transaction() as conn:
        conn.execute("INSERT INTO profiles (id, name, created_at) VALUES (1, 'Julie', 0)")
        for conv_id, started, inbox, path, authenticated in CONVERSATIONS:
            at = parse_iso(started)
            conn.execute(
                "INSERT INTO conversations (id, profile_id, app_id, inbox_id, status, created_at,"
                " updated_at, routed_at, queue_key, authenticated_at, trust_path)"
                " VALUES (?, 1, 'shop', ?, 'CLOSED', ?, ?, ?, ?, ?, ?)",
                (
                    conv_id,
                    inbox_ids[inbox],
                    at,
                    at,
                    at,
                    at,
                    parse_iso(authenticated) if authenticated else None,
                    path,
                ),
            )
        for rejected_at, code in REJECTIONS:
            conn.execute(
                "INSERT INTO token_audit (at, code, detail) VALUES (?, ?, 'x')",
                (parse_iso(rejected_at), code),
            )


@pytest.fixture
def report_desk(tmp_path: Path, clock: ManualClock) -> Iterator[Desk]:
    desk = Desk.open(tmp_path / "report.db", clock=clock)
    seed_desk(desk)
    fill(desk)
    yield desk
    desk.close()


def counts(rows: tuple[CountRow, ...]) -> list[tuple[str, int, int]]:
    return [(row.key, row.conversations, row.authenticated) for row in rows]


def test_the_worked_example_for_march_first_to_fifth(report_desk: Desk) -> None:
    report = authentication_report(report_desk, since=date(2026, 3, 1), until=date(2026, 3, 5))
    assert (report.since, report.until) == (date(2026, 3, 1), date(2026, 3, 5))
    # Conversation 2 was authenticated on 03-02 but counts on 03-01, the day it started;
    # 03-02 and 03-04 have no conversations and are listed with zeros.
    assert counts(report.days) == [
        ("2026-03-01", 3, 2),
        ("2026-03-02", 0, 0),
        ("2026-03-03", 2, 1),
        ("2026-03-04", 0, 0),
        ("2026-03-05", 1, 1),
    ]
    assert [row.share for row in report.days] == [2 / 3, None, 0.5, None, 1.0]
    assert (report.conversations, report.authenticated) == (6, 4)
    assert report.share == 4 / 6
    assert counts(report.inboxes) == [("Chat", 2, 1), ("Returns", 2, 2), ("Billing", 2, 1)]
    assert [(p.path, p.conversations, p.median_to_auth_ms) for p in report.paths] == [
        ("before_routing", 1, 0),
        ("after_routing", 2, 960_000),  # median of 1800 s and 120 s
        ("different_identity", 1, 60_000),
        ("never", 2, None),  # a NULL path and an explicit 'never'
    ]
    assert [p.share for p in report.paths] == [1 / 6, 2 / 6, 1 / 6, 2 / 6]
    # waits 0, 60, 120, 1800 s: the median is (60 + 120) / 2 = 90 s
    assert report.median_to_auth_ms == 90_000
    assert [(r.code, r.count) for r in report.rejections] == [
        ("expired", 2),
        ("bad_signature", 1),
    ]
    assert report.rejected == 3


def test_without_a_range_it_spans_every_day_with_data(report_desk: Desk) -> None:
    report = authentication_report(report_desk)
    # The earliest datum is conversation 7 (02-28), the latest conversation 8 and a
    # rejection at 03-06 00:00.
    assert (report.since, report.until) == (date(2026, 2, 28), date(2026, 3, 6))
    assert counts(report.days)[0] == ("2026-02-28", 1, 1)
    assert counts(report.days)[-1] == ("2026-03-06", 1, 0)
    assert len(report.days) == 7
    assert (report.conversations, report.authenticated) == (8, 5)
    assert [(r.code, r.count) for r in report.rejections] == [
        ("expired", 3),
        ("bad_signature", 1),
        ("replayed", 1),
    ]
    # waits 0, 0, 60, 120, 1800 s
    assert report.median_to_auth_ms == 60_000


def test_one_open_end_runs_to_the_data(report_desk: Desk) -> None:
    later = authentication_report(report_desk, since="2026-03-04")
    assert [row.key for row in later.days] == ["2026-03-04", "2026-03-05", "2026-03-06"]
    earlier = authentication_report(report_desk, until="2026-03-01")
    assert counts(earlier.days) == [("2026-02-28", 1, 1), ("2026-03-01", 3, 2)]
    assert [(r.code, r.count) for r in earlier.rejections] == [("expired", 2)]


def test_a_day_without_anything(report_desk: Desk) -> None:
    report = authentication_report(report_desk, since="2026-03-02", until="2026-03-02")
    assert counts(report.days) == [("2026-03-02", 0, 0)]
    assert report.share is None and report.median_to_auth_ms is None
    assert [(p.conversations, p.share, p.median_to_auth_ms) for p in report.paths] == [
        (0, None, None)
    ] * 4
    assert counts(report.inboxes) == [("Chat", 0, 0), ("Returns", 0, 0), ("Billing", 0, 0)]
    assert report.rejections == ()
    text = report_table(report)
    assert "2026-03-02              0              0      -" in text
    assert "Rejected tokens by reason\nnone" in text


def test_a_range_after_all_data_lists_zero_days(report_desk: Desk) -> None:
    report = authentication_report(report_desk, since="2030-01-01", until="2030-01-03")
    assert counts(report.days) == [(f"2030-01-0{n}", 0, 0) for n in (1, 2, 3)]


def test_an_empty_desk(desk: Desk) -> None:
    report = authentication_report(desk)
    assert report.since is None and report.days == () and report.conversations == 0
    assert "no conversations" in report_table(report)
    assert report_dict(report)["days"] == []
    one_day = authentication_report(desk, since="2026-01-05")
    assert counts(one_day.days) == [("2026-01-05", 0, 0)]


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2026-13-01", None, r"since: '2026-13-01' is not a day \(month must be"),
        ("2026-02-30", None, "is not a day"),
        ("yesterday", None, "use YYYY-MM-DD"),
        ("2026-1-1", None, "use YYYY-MM-DD"),
        ("", None, "use YYYY-MM-DD"),
        (20260101, None, "use YYYY-MM-DD"),
        (None, "2026-03-01T00:00", "until: .* use YYYY-MM-DD"),
        (None, "2026-03-01'; DROP TABLE conversations; --", "use YYYY-MM-DD"),
        ("2026-03-05", "2026-03-01", "since 2026-03-05 is after until 2026-03-01; swap them"),
        ("0001-01-01", "9999-12-31", f"over {MAX_RANGE_DAYS} days"),
    ],
)
def test_bad_dates_are_refused_and_change_nothing(
    report_desk: Desk, since: object, until: object, message: str
) -> None:
    before = report_desk.last_event_id()
    with pytest.raises(ReportError, match=message) as raised:
        report_json(report_desk, since=since, until=until)  # type: ignore[arg-type]
    assert raised.value.code == "invalid"
    assert report_desk.last_event_id() == before
    assert report_desk.query("SELECT count(*) FROM conversations")[0][0] == len(CONVERSATIONS)


def test_days_may_be_dates_or_datetimes(report_desk: Desk) -> None:
    by_text = authentication_report(report_desk, since="2026-03-01", until="2026-03-02")
    by_datetime = authentication_report(
        report_desk, since=datetime(2026, 3, 1, 23, 0), until=date(2026, 3, 2)
    )
    assert by_datetime == by_text


def test_the_longest_range_allowed_still_works(report_desk: Desk) -> None:
    report = authentication_report(report_desk, since="2020-01-01", until="2030-01-08")
    assert len(report.days) == MAX_RANGE_DAYS and report.conversations == len(CONVERSATIONS)


# -- output formats -------------------------------------------------------------------------


def test_json(report_desk: Desk) -> None:
    data = report_json(report_desk, since="2026-03-03", until="2026-03-04")
    assert data == {
        "report": "authentication",
        "since": "2026-03-03",
        "until": "2026-03-04",
        "day_basis": "Days are UTC; a conversation counts on the day it started.",
        "totals": {
            "conversations": 2,
            "authenticated": 1,
            "share": 0.5,
            "median_seconds_to_authenticate": 60.0,
            "rejected_tokens": 2,
        },
        "days": [
            {"day": "2026-03-03", "conversations": 2, "authenticated": 1, "share": 0.5},
            {"day": "2026-03-04", "conversations": 0, "authenticated": 0, "share": None},
        ],
        "inboxes": [
            {"inbox": "Chat", "conversations": 0, "authenticated": 0, "share": None},
            {"inbox": "Returns", "conversations": 0, "authenticated": 0, "share": None},
            {"inbox": "Billing", "conversations": 2, "authenticated": 1, "share": 0.5},
        ],
        "trust_paths": [
            {
                "path": "before_routing",
                "conversations": 0,
                "share": 0.0,
                "median_seconds_to_authenticate": None,
            },
            {
                "path": "after_routing",
                "conversations": 0,
                "share": 0.0,
                "median_seconds_to_authenticate": None,
            },
            {
                "path": "different_identity",
                "conversations": 1,
                "share": 0.5,
                "median_seconds_to_authenticate": 60.0,
            },
            {
                "path": "never",
                "conversations": 1,
                "share": 0.5,
                "median_seconds_to_authenticate": None,
            },
        ],
        "rejected_tokens": [
            {"code": "bad_signature", "count": 1},
            {"code": "expired", "count": 1},
        ],
    }
    json.dumps(data)  # serializable as is


def test_csv(report_desk: Desk) -> None:
    report = authentication_report(report_desk, since="2026-03-01", until="2026-03-02")
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert rows[0] == {
        "section": "total",
        "key": "2026-03-01..2026-03-02",
        "conversations": "3",
        "authenticated": "2",
        "share": "0.6667",
        "median_seconds_to_authenticate": "900.0",  # waits 0 and 1800 s
        "count": "1",
    }
    assert [(r["section"], r["key"], r["conversations"], r["share"]) for r in rows[1:6]] == [
        ("day", "2026-03-01", "3", "0.6667"),
        ("day", "2026-03-02", "0", ""),
        ("inbox", "Chat", "2", "0.5"),
        ("inbox", "Returns", "1", "1.0"),
        ("inbox", "Billing", "0", ""),
    ]
    assert [(r["key"], r["median_seconds_to_authenticate"]) for r in rows[6:10]] == [
        ("before_routing", "0.0"),
        ("after_routing", "1800.0"),
        ("different_identity", ""),
        ("never", ""),
    ]
    assert rows[10] == {
        "section": "rejected_token",
        "key": "expired",
        "conversations": "",
        "authenticated": "",
        "share": "",
        "median_seconds_to_authenticate": "",
        "count": "1",
    }
    assert len(rows) == 11


def test_table(report_desk: Desk) -> None:
    text = report_table(
        authentication_report(report_desk, since="2026-03-01", until="2026-03-05"), bar_width=10
    )
    assert text.splitlines()[:4] == [
        "Authentication report, 2026-03-01 to 2026-03-05",
        "Days are UTC; a conversation counts on the day it started.",
        "",
        "Conversations 6, authenticated 4 (66.7%), median time to authenticate 1m 30s,"
        " rejected tokens 3",
    ]
    assert "2026-03-01              3              2   66.7%  ██████▋\n" in text
    assert "2026-03-02              0              0       -\n" in text
    assert "after routing                   2  33.3%         16m 00s  ███▍\n" in text
    assert "never                           2  33.3%               -  ███▍\n" in text
    assert "expired            2  ██████████\nbad_signature      1  █████\n" in text


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (59_400, "59s"),
        (60_000, "1m 00s"),
        (3_599_000, "59m 59s"),
        (3_660_000, "1h 01m"),
        (90_000_000, "1d 1h"),
    ],
)
def test_duration(ms: int | None, text: str) -> None:
    assert duration(ms) == text


def test_bar_in_eighths() -> None:
    assert bar(None, 10) == "" and bar(0.0, 10) == ""
    assert bar(1.0, 4) == "████" and bar(2.0, 4) == "████"
    assert bar(0.5, 3) == "█▌" and bar(1 / 32, 4) == "▏"


# -- the command line -----------------------------------------------------------------------


def run(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--db", str(db), "report", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_formats(report_desk: Desk) -> None:
    db = report_desk.path
    code, out, _ = run(db, "--since", "2026-03-03", "--until", "2026-03-04", "--format", "json")
    assert code == 0
    assert json.loads(out) == report_json(report_desk, since="2026-03-03", until="2026-03-04")
    code, out, _ = run(db, "--since", "2026-03-01", "--until", "2026-03-02", "--format", "csv")
    assert code == 0 and out.startswith("section,key,") and "\nday,2026-03-02,0,0,,,\n" in out
    code, out, _ = run(db)
    assert code == 0 and "Authentication report, 2026-02-28 to 2026-03-06" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-13-01"], "not a day"),
        (["--until", "soon"], "use YYYY-MM-DD"),
        (["--since", "2026-03-05", "--until", "2026-03-01"], "swap them"),
        (["--since", "0001-01-01", "--until", "9999-12-31"], "shorter range"),
        (["--format", "xml"], "'xml' is not one of"),
        (["--since"], "requires an argument"),
    ],
)
def test_cli_usage_errors_exit_2(report_desk: Desk, args: list[str], message: str) -> None:
    code, out, err = run(report_desk.path, *args)
    assert code == 2 and out == ""
    assert message in err


def test_cli_missing_desk_exits_1(tmp_path: Path) -> None:
    code, _, err = run(tmp_path / "none.db")
    assert code == 1 and "no such desk database" in err
    assert not (tmp_path / "none.db").exists()
