"""SVG snapshots of the console on the demo desk, frozen at its build time.

Review `snapshot_report.html` before `pytest --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from core.clock import ManualClock
from core.store import Desk
from tests.console_helpers import (
    DEMO_NOW,
    INJECTION_CORPUS,
    SIZE,
    TRUST_MATRIX,
    add_injection_conversation,
    frozen_clock,
    trust_matrix_desk,
    wait_until,
)
from tui.app import DeskApp, make_app
from tui.screens.conversation import ConversationScreen
from tui.screens.dialogs import HelpScreen
from tui.screens.queue import QueueScreen
from tui.widgets.queue_list import QueueList


def console(db: Path) -> DeskApp:
    return make_app(db, agent="alice", clock=frozen_clock())


async def _queue_loaded(pilot: Pilot) -> None:
    app = pilot.app
    await wait_until(lambda: isinstance(app.screen, QueueScreen))
    await wait_until(lambda: app.screen.query_one(QueueList).loaded)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def opened(conversation_id: int) -> Callable[[Pilot], object]:
    async def run_before(pilot: Pilot) -> None:
        app: DeskApp = pilot.app  # type: ignore[assignment]
        await _queue_loaded(pilot)
        app.open_conversation(conversation_id)
        await wait_until(
            lambda: isinstance(app.screen, ConversationScreen) and app.screen.view is not None
        )
        app.screen.query_one("#composer", Input).cursor_blink = False
        await app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


def test_queue(snap_compare: Callable[..., bool], db: Path) -> None:
    assert snap_compare(console(db), terminal_size=SIZE, run_before=_queue_loaded)


def test_trusted_open_conversation_green(snap_compare: Callable[..., bool], db: Path) -> None:
    assert snap_compare(console(db), terminal_size=SIZE, run_before=opened(384))


def test_closed_conversation_gray(snap_compare: Callable[..., bool], db: Path) -> None:
    assert snap_compare(console(db), terminal_size=SIZE, run_before=opened(2))


def test_scenario_4_mixed_timeline(snap_compare: Callable[..., bool], db: Path) -> None:
    assert snap_compare(console(db), terminal_size=SIZE, run_before=opened(376))


def test_claimed_identity_banner(snap_compare: Callable[..., bool], db: Path) -> None:
    assert snap_compare(console(db), terminal_size=SIZE, run_before=opened(370))


def _with_injections(db: Path) -> list[int]:
    desk = Desk.open(db, clock=frozen_clock(), create=False)
    try:
        return [
            add_injection_conversation(
                desk, name=name, body=body, trusted=False, at=DEMO_NOW - 3_600_000 + n
            )
            for n, (name, body) in enumerate(INJECTION_CORPUS)
        ]
    finally:
        desk.close()


def test_injection_corpus_queue(snap_compare: Callable[..., bool], db: Path) -> None:
    _with_injections(db)
    assert snap_compare(console(db), terminal_size=SIZE, run_before=_queue_loaded)


def test_injection_corpus_conversation(snap_compare: Callable[..., bool], db: Path) -> None:
    """Every hostile body in one timeline; odd ones trusted: only those get a (green) ✔."""
    bodies = sorted((body for _, body in INJECTION_CORPUS), key=len, reverse=True)
    desk = Desk.open(db, clock=frozen_clock(), create=False)
    try:
        conversation_id = add_injection_conversation(
            desk,
            name=INJECTION_CORPUS[0][0],
            body=bodies[-1],
            trusted=True,
            at=DEMO_NOW - 60_000,
            more=[(body, n % 2 == 1) for n, body in enumerate(bodies[:-1])],
        )
    finally:
        desk.close()
    assert snap_compare(console(db), terminal_size=SIZE, run_before=opened(conversation_id))


# -- every identity state beside every trust state: queue, banner, help ------------------------

Matrix = tuple[Path, int, dict[str, int]]


@pytest.fixture
def matrix(tmp_path: Path) -> Matrix:
    return trust_matrix_desk(tmp_path)


def matrix_console(matrix: Matrix) -> DeskApp:
    path, now, _ = matrix
    return make_app(
        path, agent="alice", clock=ManualClock(now), queue_view="all", queue_status="all"
    )


def test_trust_matrix_queue(snap_compare: Callable[..., bool], matrix: Matrix) -> None:
    """One row per state: the mark before each last customer message, green while open, gray
    once closed, blank when unverified, whatever the badge says of the customer now."""
    assert snap_compare(matrix_console(matrix), terminal_size=(140, 18), run_before=_queue_loaded)


@pytest.mark.parametrize("label", [label for label, _, _ in TRUST_MATRIX])
def test_trust_matrix_banner(snap_compare: Callable[..., bool], matrix: Matrix, label: str) -> None:
    """The banner of each state: badge and header, the last message's mark in words, what the
    identity means; the timeline's marks below it agree."""
    app = matrix_console(matrix)
    assert snap_compare(app, terminal_size=(100, 16), run_before=opened(matrix[2][label]))


def test_help_explains_the_marks_badges_and_statuses(
    snap_compare: Callable[..., bool], db: Path
) -> None:
    async def run_before(pilot: Pilot) -> None:
        await _queue_loaded(pilot)
        await pilot.press("f1")
        await wait_until(lambda: isinstance(pilot.app.screen, HelpScreen))
        await pilot.pause()

    assert snap_compare(console(db), terminal_size=(100, 62), run_before=run_before)
