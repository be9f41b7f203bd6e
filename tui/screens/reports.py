"""The Reports screen: the authentication report (docs/reports.md) as bar charts.

The screen only draws: `core.report` computes. The report loads in a thread worker from a
`load` callable (the console passes `ConsoleData.authentication_report`), so a big desk
never blocks the UI; `r` loads it again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static
from textual.worker import Worker, WorkerState

from core.report import DAY_BASIS, AuthReport, CountRow, duration, percent
from tui.base import PaletteCommand
from tui.bindings import REPORTS_SCREEN, bindings_for
from tui.text import clean_line
from tui.widgets.footer import KeyFooter

#: Colours of the trust paths: proven before routing reads as good, never as absent.
PATH_STYLES = {
    "before_routing": "green",
    "after_routing": "yellow",
    "different_identity": "magenta",
    "never": "grey50",
}
AUTHENTICATED_STYLE = "green"
REST_STYLE = "grey35"
REJECTED_STYLE = "red"
LABEL_LIMIT = 24
#: Under the volume charts: what the two colours of a bar mean.
COUNT_LEGEND = Text.assemble(
    ("█", AUTHENTICATED_STYLE), " authenticated  ", ("█", REST_STYLE), " not", end=""
)


@dataclass(frozen=True, slots=True)
class Bar:
    """One chart row: a label, filled parts of a bar as (cells, style), and a note after it."""

    label: str
    parts: tuple[tuple[float, str], ...]
    note: str


def _cells(fraction: float, width: int) -> int:
    return max(0, min(width, round(fraction * width)))


def render_bars(bars: Sequence[Bar], width: int) -> Text:
    """Rows of `label  ██████░░░  note`; label text is cleaned, never parsed as markup."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    if not bars:
        text.append("nothing in this range", "dim")
        return text
    labels = [clean_line(bar.label, limit=LABEL_LIMIT) for bar in bars]
    label_width = max(len(label) for label in labels)
    for number, (bar, label) in enumerate(zip(bars, labels, strict=True)):
        if number:
            text.append("\n")
        text.append(label.ljust(label_width) + " ")
        used = 0
        for fraction, style in bar.parts:
            cells = min(_cells(fraction, width), width - used)
            text.append("█" * cells, style)
            used += cells
        text.append(" " * (width - used) + " ")
        text.append(bar.note, "dim")
    return text


def count_bars(rows: Sequence[CountRow]) -> list[Bar]:
    """Bar length is the volume (against the busiest row); green is the authenticated part."""
    busiest = max((row.conversations for row in rows), default=0) or 1
    return [
        Bar(
            row.key,
            (
                (row.authenticated / busiest, AUTHENTICATED_STYLE),
                ((row.conversations - row.authenticated) / busiest, REST_STYLE),
            ),
            f"{row.authenticated}/{row.conversations} {percent(row.share)}",
        )
        for row in rows
    ]


def path_bars(report: AuthReport) -> list[Bar]:
    return [
        Bar(
            row.label,
            ((row.share or 0.0, PATH_STYLES.get(row.path, "white")),),
            f"{row.conversations} {percent(row.share)}"
            + (
                f" · median {duration(row.median_to_auth_ms)}"
                if row.median_to_auth_ms is not None
                else ""
            ),
        )
        for row in report.paths
    ]


def rejection_bars(report: AuthReport) -> list[Bar]:
    top = max((row.count for row in report.rejections), default=0) or 1
    return [
        Bar(row.code, ((row.count / top, REJECTED_STYLE),), str(row.count))
        for row in report.rejections
    ]


def summary(report: AuthReport) -> Text:
    text = Text(end="")
    if report.since is None:
        text.append("No conversations and no rejected tokens yet.", "dim")
        return text
    text.append(f"{report.since} to {report.until}", "bold")
    text.append(f"  ·  {DAY_BASIS}\n", "dim")
    text.append(f"{report.conversations:,}", "bold")
    text.append(" conversations  ·  ")
    text.append(f"{report.authenticated:,} authenticated ({percent(report.share)})", "bold green")
    text.append("  ·  median time to authenticate ")
    text.append(duration(report.median_to_auth_ms), "bold")
    text.append("  ·  ")
    text.append(f"{report.rejected:,} rejected tokens", "bold red" if report.rejected else "bold")
    return text


class BarChart(Static):
    """A titled bar chart that redraws its bars to its width."""

    DEFAULT_CSS = """
    BarChart {
        border: round $primary 50%;
        padding: 0 1;
        height: auto;
    }
    """

    def __init__(self, title: str | None, *, id: str, legend: Text | None = None) -> None:
        super().__init__(id=id)
        self.border_title = title
        if legend is not None:
            self.border_subtitle = legend
        self.bars: list[Bar] = []

    def show(self, bars: list[Bar]) -> None:
        self.bars = bars
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        labels = [len(clean_line(bar.label, limit=LABEL_LIMIT)) for bar in self.bars] or [0]
        notes = [len(bar.note) for bar in self.bars] or [0]
        room = self.content_size.width - max(labels) - max(notes) - 2
        self.update(render_bars(self.bars, max(4, min(40, room))))


class ReportsScreen(Screen[None]):
    """Authenticated conversations per day and per inbox, trust paths, rejected tokens."""

    DEFAULT_CSS = """
    ReportsScreen #report-summary { padding: 0 1; height: 2; }
    ReportsScreen #report-error { color: $error; padding: 0 1; height: auto; display: none; }
    ReportsScreen #report-days-pane {
        width: 1fr; height: auto; max-height: 100%; border: round $primary 50%;
        scrollbar-size-vertical: 1;
    }
    ReportsScreen #report-days { border: none; }
    ReportsScreen #report-side { width: 1fr; height: auto; }
    ReportsScreen #report-body { height: 1fr; }
    """

    BINDINGS = bindings_for(REPORTS_SCREEN)

    @dataclass
    class Loaded(Message):
        """A report finished computing."""

        report: AuthReport

    def __init__(
        self, load: Callable[[], AuthReport], *, id: str | None = "reports-screen"
    ) -> None:
        super().__init__(id=id)
        self.load = load
        self.report: AuthReport | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="✉")
        yield Static(Text("Computing the report…", "dim"), id="report-summary")
        yield Static(id="report-error")
        with Horizontal(id="report-body"):
            # The frame is the scrolling pane's, so its scrollbar stays inside it.
            days = VerticalScroll(id="report-days-pane")
            days.border_title = "Per day (UTC)"
            days.border_subtitle = COUNT_LEGEND
            with days:
                yield BarChart(None, id="report-days")
            with VerticalScroll(id="report-side-pane"), Vertical(id="report-side"):
                yield BarChart("Per inbox", id="report-inboxes", legend=COUNT_LEGEND)
                yield BarChart("How conversations became trusted", id="report-paths")
                yield BarChart("Rejected tokens by reason", id="report-rejections")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.title = "gladdesk"
        self.sub_title = "authentication report"
        self.action_reload()

    def action_reload(self) -> None:
        self._compute()

    def action_close(self) -> None:
        self.dismiss()

    @work(thread=True, exclusive=True, exit_on_error=False, group="reports")
    def _compute(self) -> None:
        self.post_message(self.Loaded(self.load()))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        report = self.report = message.report
        self.query_one("#report-error", Static).display = False
        self.query_one("#report-summary", Static).update(summary(report))
        self.query_one("#report-days", BarChart).show(count_bars(report.days))
        self.query_one("#report-inboxes", BarChart).show(count_bars(report.inboxes))
        self.query_one("#report-paths", BarChart).show(path_bars(report))
        self.query_one("#report-rejections", BarChart).show(rejection_bars(report))

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = self.query_one("#report-error", Static)
            reason = clean_line(event.worker.error, limit=300)
            error.update(Text(f"Could not compute the report: {reason}", end=""))
            error.display = True

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Refresh report",
                "Compute the report again from the desk",
                self.action_reload,
                "reports.refresh",
            ),
            PaletteCommand("Close report", "Leave the reports", self.action_close, "reports.close"),
        ]
