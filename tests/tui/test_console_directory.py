"""A running console follows `gladdesk inboxes / agents` changes made by another process, and
a disabled agent cannot open one."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import Conflict
from tests.console_helpers import SIZE, frozen_clock, wait_until
from tests.helpers import cli_ok as cli
from tui.app import DeskApp, make_app
from tui.screens.conversation import ConversationScreen
from tui.screens.dialogs import TransferScreen
from tui.screens.queue import QueueScreen

TRUSTED_OPEN = 384  # alice's, in the demo desk


def console(db: Path, agent: str = "alice") -> DeskApp:
    return make_app(db, agent=agent, clock=frozen_clock())


def told(app: DeskApp, words: str) -> bool:
    return any(words in str(n.message) for n in app._notifications)


def test_a_disabled_agent_cannot_open_the_console(db: Path) -> None:
    cli(db, "agents", "disable", "bruno")
    with pytest.raises(Conflict, match="agent 'bruno' is disabled.*gladdesk agents enable bruno"):
        console(db, "bruno")
    cli(db, "agents", "enable", "bruno")
    console(db, "bruno").data.close()


async def test_a_new_inbox_becomes_a_queue_view_without_a_restart(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, QueueScreen))
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        await pilot.press("v")  # the Unassigned view, kept while the list grows
        await wait_until(lambda: screen.views[screen.view_number].label == "Unassigned")
        cli(db, "inboxes", "add", "Escalations")
        await wait_until(lambda: "Inbox Escalations" in [v.label for v in screen.views])
        assert screen.views[screen.view_number].label == "Unassigned"
        assert app.inboxes[-1] == "Escalations"


async def test_disabled_agents_leave_the_transfer_list_and_the_agent_is_told(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, QueueScreen))
        cli(db, "agents", "disable", "bruno")
        app.open_conversation(TRUSTED_OPEN)
        await wait_until(lambda: isinstance(app.screen, ConversationScreen))
        await pilot.press("t")
        await wait_until(lambda: isinstance(app.screen, TransferScreen))
        dialog = app.screen
        assert isinstance(dialog, TransferScreen)
        agents = [name for kind, name in dialog.targets if kind == "agent"]
        assert "bruno" not in agents and "chen" in agents
        await pilot.press("escape")
        cli(db, "agents", "disable", "alice")
        await wait_until(lambda: told(app, "Your agent account was disabled"))
        for inbox in ("Escalations", "Priority"):  # more changes: told once, not again
            cli(db, "inboxes", "add", inbox)
            await wait_until(lambda: app.inboxes[-1] == inbox)  # noqa: B023 (awaited here)
        await pilot.pause()
        notices = [n for n in app._notifications if "account was disabled" in str(n.message)]
        assert len(notices) == 1
