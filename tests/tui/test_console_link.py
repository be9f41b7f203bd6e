"""The console when its desk cannot be reached (a console over the network): a banner on
every screen saying since when and why, replies refused with the draft given back, no notice
for each background read that fails meanwhile, the banner gone when the link is back; and a
session whose token stopped working ends with a message naming the unsent drafts.

The link is played by hand here; tests/e2e/test_console_remote_tmux.py stops a real server.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.console.data import Link, Unreachable
from core.console.local import LocalConsoleData
from core.engine import Engine
from tests.console_helpers import SIZE, customer_writes, frozen_clock, wait_until
from tests.tui.test_console import TRUSTED_OPEN, open_conversation
from tui.app import DeskApp
from tui.widgets.link_banner import LinkBanner

#: Calls that reach the desk (all but the link and the tail's quick check).
REACHING = frozenset(
    {
        "me", "agents", "inboxes", "queue_directory", "queue_page", "queue_snapshot",
        "conversation", "timeline", "past_conversations", "search_customers",
        "search_messages", "authentication_report", "reply", "send_login_prompt", "take",
        "transfer", "close_conversation", "reopen_conversation", "changes_after",
    }
)  # fmt: skip


class Unplugged:
    """A local console's data whose link can be pulled: while down every call reaching the
    desk raises Unreachable, as the remote backend's do."""

    def __init__(self, inner: LocalConsoleData) -> None:
        self._inner = inner
        self.state = Link()
        self.refused: list[str] = []

    def link(self) -> Link:
        return self.state

    def pull(self, detail: str = "connection refused") -> None:
        self.state = Link("down", detail, time.time_ns() // 1_000_000 - 3_000, 2)

    def plug(self) -> None:
        self.state = Link()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in REACHING:
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.state.state != "up":
                self.refused.append(name)
                raise Unreachable(
                    "the desk at http://desk.test cannot be reached; nothing was sent"
                )
            return value(*args, **kwargs)

        return call


def banner(app: DeskApp) -> LinkBanner:
    return app.screen.query_one(LinkBanner)


def errors_shown(app: DeskApp) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


async def test_a_lost_link_shows_a_banner_keeps_the_draft_and_goes_when_it_is_back(
    db: Path, other: Engine
) -> None:
    data = Unplugged(LocalConsoleData.open(db, agent="alice", clock=frozen_clock()))
    app = DeskApp(data, queue_view="all", tail_interval=0.02)  # type: ignore[arg-type]
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_conversation(pilot, TRUSTED_OPEN)
            assert not banner(app).display
            data.pull()
            await wait_until(lambda: banner(app).display)
            words = str(banner(app).render())
            assert "Connection lost" in words and "3 s ago (connection refused)" in words
            assert "try 3" in words and "drafts are kept" in words
            await pilot.press("r", *"Back in a minute", "enter")
            await wait_until(lambda: screen.composer.value == "Back in a minute")
            assert "reply" in data.refused and errors_shown(app) == [
                "the desk at http://desk.test cannot be reached; nothing was sent"
            ]
            # A change elsewhere: the console's reads fail quietly (the banner says it).
            customer_writes(other, "diego.fischer@example.org", "Hello?")
            await wait_until(lambda: "changes_after" in data.refused)
            await pilot.pause(0.3)
            assert len(errors_shown(app)) == 1
            data.plug()
            await wait_until(lambda: not banner(app).display)
            await wait_until(
                lambda: any(
                    "Connected to the desk again" in str(n.message) for n in app._notifications
                )
            )
            assert screen.composer.value == "Back in a minute"
            # What changed while it was down shows now.
            await wait_until(lambda: screen.timeline.items[-1].body == "Hello?")
    finally:
        data._inner.close()  # noqa: SLF001


async def test_a_signed_out_session_ends_naming_the_unsent_drafts(db: Path) -> None:
    data = Unplugged(LocalConsoleData.open(db, agent="alice", clock=frozen_clock()))
    app = DeskApp(data, queue_view="all", tail_interval=0.02)  # type: ignore[arg-type]
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_conversation(pilot, TRUSTED_OPEN)
            await pilot.press("r", *"half a reply")
            await wait_until(lambda: screen.composer.value == "half a reply")
            data.state = Link("ended", "this agent token was revoked or replaced", 1)
            await wait_until(lambda: app.return_code == 1)
        message = app.signed_out or ""
        assert "signed out: this agent token was revoked or replaced" in message
        assert f"#{TRUSTED_OPEN}: half a reply" in message
    finally:
        data._inner.close()  # noqa: SLF001
