"""The console opens the Reports screen (key and palette) and refuses unknown queue views."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from core.errors import NotFound
from tests.console_helpers import SIZE, demo_copy, frozen_clock, wait_until
from tests.tui.test_console import queue_ready
from tui.app import make_app
from tui.screens.reports import ReportsScreen


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return demo_copy(tmp_path)


async def test_reports_key_opens_the_authentication_report(db: Path) -> None:
    app = make_app(db, agent="alice", clock=frozen_clock())
    async with app.run_test(size=SIZE) as pilot:
        await queue_ready(pilot)
        await pilot.press("R")
        await wait_until(lambda: isinstance(app.screen, ReportsScreen))
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert "before routing" in text.lower()
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, ReportsScreen))


async def test_reports_is_in_the_command_palette(db: Path) -> None:
    app = make_app(db, agent="alice", clock=frozen_clock())
    async with app.run_test(size=SIZE) as pilot:
        await queue_ready(pilot)
        [command] = [c for c in app.palette_commands() if c.binding_id == "desk.reports"]
        command.callback()
        await wait_until(lambda: isinstance(app.screen, ReportsScreen))
        await app.workers.wait_for_complete()
        await pilot.pause()


def test_unknown_queue_view_is_refused(db: Path) -> None:
    with pytest.raises(
        NotFound, match="no queue view 'Nowhere'.*mine, unassigned, Chat, Returns, Billing, all"
    ):
        make_app(db, agent="alice", queue_view="Nowhere")
    result = CliRunner().invoke(
        main, ["--db", str(db), "console", "--agent", "alice", "--view", "Nowhere"]
    )
    assert result.exit_code == 1
    assert "no queue view" in result.output
