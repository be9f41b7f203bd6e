"""The console needs nothing of the desk but its data interface: run on a `ConsoleData` that
offers only the protocol's names (a remote backend offers no more), it shows the queue, opens
a conversation, replies, searches, transfers and follows changes made elsewhere."""

from __future__ import annotations

import inspect
from collections import Counter
from pathlib import Path
from typing import Any

from core.console.data import ConsoleData
from core.console.local import LocalConsoleData
from core.engine import Engine
from tests.console_helpers import SIZE, customer_writes, frozen_clock, wait_until
from tests.tui.test_console import TRUSTED_OPEN, open_conversation, queue_ready
from tui.app import DeskApp
from tui.screens.dialogs import SearchScreen, TransferScreen
from tui.screens.queue import QueueScreen

#: What a backend offers: the protocol's methods and attributes, nothing else.
OFFERED = frozenset(
    name
    for name in {*vars(ConsoleData), *inspect.get_annotations(ConsoleData)}
    if not name.startswith("_")
)


class OnlyTheInterface:
    """A `ConsoleData` that lets the console reach nothing but the protocol (any other
    attribute is an AttributeError), and counts the calls."""

    def __init__(self, inner: ConsoleData) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        if name not in OFFERED:
            raise AttributeError(f"the console reached past its data interface: {name}")
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return value(*args, **kwargs)

        return counted


def test_the_protocol_names_what_the_console_uses() -> None:
    assert {"agent", "clock", "queue_page", "queue_snapshot", "changed", "reply"} <= OFFERED
    assert "desk" not in OFFERED and "engine" not in OFFERED


async def test_the_console_works_on_the_interface_alone(db: Path, other: Engine) -> None:
    local = LocalConsoleData.open(db, agent="alice", clock=frozen_clock())
    data = OnlyTheInterface(local)
    app = DeskApp(data, queue_view="all", tail_interval=0.05)  # type: ignore[arg-type]
    try:
        async with app.run_test(size=SIZE) as pilot:
            queue = await queue_ready(pilot)
            assert queue.total == 24 and data.calls["queue_snapshot"] >= 1
            screen = await open_conversation(pilot, TRUSTED_OPEN)
            assert screen.view is not None and screen.view.profile.name == "Diego Fischer"
            await pilot.press("r", *"On it, Diego.", "enter")
            await wait_until(lambda: any(i.body == "On it, Diego." for i in screen.timeline.items))
            assert data.calls["reply"] == 1
            customer_writes(other, "diego.fischer@example.org", "Thanks!")  # elsewhere
            await wait_until(lambda: screen.timeline.items[-1].body == "Thanks!")
            assert data.calls["changes_after"] >= 1
            await pilot.press("escape", "t")
            await wait_until(lambda: isinstance(app.screen, TransferScreen))
            await pilot.press("escape")
            assert data.calls["agents"] == 1
            await pilot.press("escape")
            await wait_until(lambda: isinstance(app.screen, QueueScreen))
            await pilot.press("slash", *"Diego")
            await wait_until(lambda: isinstance(app.screen, SearchScreen) and app.screen.hits)
            assert data.calls["search_customers"] >= 1
            assert not [n for n in app._notifications if "Unexpected" in str(n.message)]
    finally:
        local.close()
