"""The Reports screen: a snapshot on a frozen report, and its behaviour under Pilot."""

from __future__ import annotations

from datetime import date
from typing import Any

from rich.text import Text
from textual.app import App
from textual.content import Content
from textual.widgets import Static

from core.report import AuthReport, CountRow, PathRow, RejectionRow
from tui.screens.reports import BarChart, ReportsScreen

DAYS = (
    CountRow("2026-11-14", 10, 7),
    CountRow("2026-11-15", 0, 0),
    CountRow("2026-11-16", 6, 3),
    CountRow("2026-11-17", 9, 4),
    CountRow("2026-11-18", 5, 2),
    CountRow("2026-11-19", 1, 0),
    CountRow("2026-11-20", 24, 19),
)
FROZEN = AuthReport(
    since=date(2026, 11, 14),
    until=date(2026, 11, 20),
    conversations=55,
    authenticated=35,
    median_to_auth_ms=0,
    days=DAYS,
    inboxes=(
        CountRow("Chat", 23, 16),
        CountRow("Returns", 15, 8),
        CountRow("[red]VIP[/] \x1b[31mBilling", 17, 11),  # hostile: shown literally
    ),
    paths=(
        PathRow("before_routing", 28, 28 / 55, 0),
        PathRow("after_routing", 7, 7 / 55, 261_000),
        PathRow("different_identity", 0, 0.0, None),
        PathRow("never", 20, 20 / 55, None),
    ),
    rejections=(RejectionRow("expired", 4), RejectionRow("bad_signature", 2)),
)


class ReportsApp(App[None]):
    """Just the Reports screen, on a report given by the test."""

    def __init__(self, load: Any) -> None:
        super().__init__()
        self.load = load

    def on_mount(self) -> None:
        self.push_screen(ReportsScreen(self.load))


def test_reports_screen_snapshot(snap_compare: Any) -> None:
    async def loaded(pilot: Any) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(ReportsApp(lambda: FROZEN), terminal_size=(120, 40), run_before=loaded)


def plain(widget: Static) -> str:
    content = widget.render()
    assert isinstance(content, Content | Text)
    return content.plain


async def test_loads_in_a_worker_refreshes_and_closes() -> None:
    calls: list[int] = []

    def load() -> AuthReport:
        calls.append(1)
        return FROZEN

    app = ReportsApp(load)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReportsScreen) and screen.report is FROZEN
        assert calls == [1]
        summary = plain(screen.query_one("#report-summary", Static))
        assert "2026-11-14 to 2026-11-20" in summary
        assert "a conversation counts on the day it started" in summary
        assert "35 authenticated (63.6%)" in summary and "6 rejected tokens" in summary
        days = plain(screen.query_one("#report-days", BarChart)).splitlines()
        assert len(days) == 7 and days[1].startswith("2026-11-15") and "0/0 -" in days[1]
        inboxes = plain(screen.query_one("#report-inboxes", BarChart))
        assert "[red]VIP[/] ␛[31mBilling" in inboxes  # literal, inert
        await pilot.press("r")
        await app.workers.wait_for_complete()
        assert calls == [1, 1]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ReportsScreen)


async def test_a_failing_load_shows_the_error() -> None:
    def load() -> AuthReport:
        raise RuntimeError("database is locked")

    app = ReportsApp(load)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        error = app.screen.query_one("#report-error", Static)
        assert error.display
        assert plain(error) == "Could not compute the report: database is locked"


async def test_an_empty_desk() -> None:
    empty = AuthReport(None, None, 0, 0, None, (), (), (), ())
    app = ReportsApp(lambda: empty)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "No conversations" in plain(app.screen.query_one("#report-summary", Static))
        assert plain(app.screen.query_one("#report-days", BarChart)) == "nothing in this range"
