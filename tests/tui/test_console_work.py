"""The console, driven with Pilot: trust signals that agree, statuses, taking work, reopening,
transfer targets with their load, the login prompt to a verified customer."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.style import Style

from core.clock import ManualClock
from core.engine import Engine
from tests.console_helpers import (
    SIZE,
    TRUST_MATRIX,
    trust_matrix_desk,
    wait_until,
)
from tests.helpers import set_agents
from tests.tui.test_console import (
    CLAIMED_OPEN,
    TRUSTED_OPEN,
    console,
    items,
    mark_of,
    open_conversation,
    queue_ready,
    settle,
    status_of,
)
from tui.app import DeskApp, make_app
from tui.screens.conversation import ConversationScreen
from tui.screens.dialogs import ConfirmScreen, TransferScreen
from tui.screens.queue import QueueScreen
from tui.widgets.banner import IdentityBanner


def notified(app: DeskApp, words: str) -> bool:
    return any(words in str(n.message) for n in app._notifications)


def unassigned_chat(other: Engine, email: str = "nora.new@example.com") -> int:
    """A customer writes while every agent is away: the chat waits with no agent."""
    set_agents(other.desk, "available = 0")
    session = other.init_session("retale").session_id
    other.set_user(session, name="Nora New", email=email)
    sent = other.send_message(session, "Is anyone there?")
    set_agents(other.desk, "available = 1")
    assert sent.assignee is None
    return sent.conversation_id


def banner_lines(screen: ConversationScreen) -> list[str]:
    return str(screen.query_one(IdentityBanner).render()).splitlines()


def mark_color(style: Style | None) -> object:
    return None if style is None or style.color is None else style.color.triplet


# -- trust signals --------------------------------------------------------------------------------


async def test_trust_signals_agree_in_queue_banner_and_timeline(tmp_path: Path) -> None:
    """Every identity state beside every trust state: the queue's mark, the banner's and the
    timeline's on the last customer message are one mark, in one colour, with one badge."""
    path, now, chats = trust_matrix_desk(tmp_path)
    app = make_app(
        path, agent="alice", clock=ManualClock(now), queue_view="all", queue_status="all"
    )
    async with app.run_test(size=(140, 30)) as pilot:
        queue = await queue_ready(pilot)
        rows = {row.id: (y, row) for y, row in enumerate(queue.visible_rows(), start=1)}
        colors = {
            state: mark_color(queue.get_component_rich_style(f"queue-list--glyph-{state}"))
            for state in ("green", "gray")
        }
        for label, badge, mark in TRUST_MATRIX:
            y, row = rows[chats[label]]
            line = queue.render_line(y)
            assert badge in line.text and (mark_of(queue, y) == "✔") == (mark is not None), label
            assert row.glyph == mark, label
            if mark is not None:
                queue_mark = next(s for s in line if s.text.startswith("✔"))
                assert mark_color(queue_mark.style) == colors[mark], label
            screen = await open_conversation(pilot, chats[label])
            header, last_message, *_ = banner_lines(screen)
            assert header.lstrip().startswith(badge), (label, header)
            assert last_message.startswith("✔") == (mark is not None), (label, last_message)
            assert ("not verified" in last_message) == (mark is None), (label, last_message)
            banner = screen.query_one(IdentityBanner)
            if mark is not None:
                glyph_style = banner.get_component_rich_style(f"identity-banner--glyph-{mark}")
                assert mark_color(glyph_style) == colors[mark], label
            timeline = screen.timeline
            last = max(n for n, item in enumerate(timeline.items) if item.sender == "customer")
            first_line = next(n for n, ln in enumerate(timeline._lines) if ln.item == last)
            assert timeline.lines_text()[first_line].startswith("✔") == (mark is not None), label
            await pilot.press("escape")
            await wait_until(lambda: isinstance(app.screen, QueueScreen))


async def test_statuses_are_named_for_who_acts_next(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=(140, 32)) as pilot:
        queue = await queue_ready(pilot)
        header = queue.render_line(0).text
        assert "Unanswered" in header and "Last customer message" in header
        assert "Waiting" not in header
        for y, row in enumerate(queue.visible_rows(), start=1):
            line = queue.render_line(y).text
            if row.status == "OPEN":
                assert "needs reply" in line and "—" not in line.split("needs reply")[0], line
            else:
                assert " replied " in line and "—" in line, line
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        await pilot.press("s")
        await wait_until(lambda: queue.loaded)
        await settle(pilot)
        assert "Status: needs reply" in str(screen.query_one("#filter-bar").render())
        assert {r.status for r in queue.visible_rows()} == {"OPEN"}
        await pilot.press("s")
        await wait_until(lambda: queue.loaded)
        await settle(pilot)
        assert "Status: replied" in str(screen.query_one("#filter-bar").render())
        assert {r.status for r in queue.visible_rows()} == {"WAITING"}


def test_an_unknown_queue_status_is_refused_before_start(db: Path) -> None:
    from core.errors import NotFound

    with pytest.raises(NotFound, match="no queue status 'waiting' \\(known: active, needs reply"):
        make_app(db, agent="alice", queue_status="waiting")


# -- taking work ----------------------------------------------------------------------------------


async def test_unassigned_view_and_take_from_the_queue(db: Path, other: Engine) -> None:
    conversation_id = unassigned_chat(other)
    app = console(db, queue_view="unassigned")
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        assert "View: Unassigned" in str(screen.query_one("#filter-bar").render())
        assert [r.id for r in queue.visible_rows()] == [conversation_id]
        assert "Nora New" in queue.render_line(1).text and " — " in queue.render_line(1).text
        await pilot.press("a")
        await wait_until(lambda: notified(app, f"#{conversation_id} is yours"))
        await wait_until(lambda: queue.loaded and queue.total == 0)
        assert status_of(db, conversation_id)[1] == "alice"
        assert items(db, conversation_id)[-1][2:4] == ("assigned", "Taken by Alice Moreau (alice)")
        await pilot.press("v", "v", "v", "v", "v")  # back round to Mine
        await wait_until(
            lambda: queue.loaded and "Mine" in str(screen.query_one("#filter-bar").render())
        )
        await wait_until(lambda: conversation_id in [r.id for r in queue.visible_rows()])


async def test_take_loses_to_an_agent_who_took_it_first(db: Path, other: Engine) -> None:
    conversation_id = unassigned_chat(other)
    app = console(db, queue_view="unassigned", tail_interval=60.0)  # it does not hear of bruno
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        assert [r.id for r in queue.visible_rows()] == [conversation_id]
        other.take(conversation_id, "bruno")
        before = items(db, conversation_id)
        await pilot.press("a")
        await wait_until(lambda: notified(app, "already assigned to bruno"))
        assert items(db, conversation_id) == before
        assert status_of(db, conversation_id)[1] == "bruno"


async def test_take_at_capacity_is_refused_and_changes_nothing(db: Path, other: Engine) -> None:
    conversation_id = unassigned_chat(other)
    set_agents(other.desk, "capacity = open_conversations", ("alice",))
    app = console(db, queue_view="unassigned")
    async with app.run_test(size=SIZE) as pilot:
        await queue_ready(pilot)
        before = items(db, conversation_id)
        await pilot.press("a")
        await wait_until(lambda: notified(app, "alice is at capacity"))
        assert items(db, conversation_id) == before
        assert status_of(db, conversation_id)[1] is None


async def test_take_with_nothing_highlighted_says_so(db: Path) -> None:
    app = console(db, queue_view="unassigned")
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        assert queue.total == 0
        await pilot.press("a")
        await wait_until(lambda: notified(app, "No conversation here to take"))


async def test_take_from_the_conversation_screen(db: Path, other: Engine) -> None:
    conversation_id = unassigned_chat(other)
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, conversation_id)
        assert "· unassigned" in banner_lines(screen)[0]
        assert screen.check_action("take", ()) is True
        await pilot.press("a")
        await wait_until(lambda: screen.view is not None and screen.view.assignee == "alice")
        assert "· alice" in banner_lines(screen)[0]
        assert screen.check_action("take", ()) is False  # no longer offered
        assert any("Taken by Alice Moreau" in line for line in screen.timeline.lines_text())
        assert notified(app, "it is yours")


async def test_take_is_not_offered_on_an_assigned_conversation(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, TRUSTED_OPEN)
        before = items(db, TRUSTED_OPEN)
        assert screen.check_action("take", ()) is False
        await pilot.press("a")
        await settle(pilot)
        assert items(db, TRUSTED_OPEN) == before


# -- reopen, transfer -----------------------------------------------------------------------------


async def test_reopen_keeps_the_agent_and_says_so(db: Path, other: Engine) -> None:
    other.close(CLAIMED_OPEN, "bruno", force=True)  # bruno's chat
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, CLAIMED_OPEN)
        await pilot.press("o")
        await wait_until(lambda: screen.view is not None and screen.view.status != "CLOSED")
        assert status_of(db, CLAIMED_OPEN)[:2] == ("WAITING", "bruno")
        await wait_until(lambda: notified(app, "reopened; bruno has it"))
        said = "Reopened by alice; it stays with bruno"
        await wait_until(lambda: any(i.body == said for i in screen.timeline.items))


async def test_reopen_when_its_agent_is_away_says_who_has_it(db: Path, other: Engine) -> None:
    other.close(CLAIMED_OPEN, "bruno", force=True)
    set_agents(other.desk, "available = 0", ("bruno",))
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, CLAIMED_OPEN)
        await pilot.press("o")
        await wait_until(lambda: status_of(db, CLAIMED_OPEN)[1] == "alice")
        said = "Reopened by alice; bruno is unavailable, so it goes to alice"
        await wait_until(lambda: any(i.body == said for i in screen.timeline.items))
        assert items(db, CLAIMED_OPEN)[-1][2:4] == ("assigned", "Assigned to Alice Moreau (alice)")


async def test_transfer_lists_agents_with_their_load_and_availability(
    db: Path, other: Engine
) -> None:
    set_agents(other.desk, "available = 0", ("chen",))
    set_agents(other.desk, "capacity = open_conversations", ("dana",))
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await open_conversation(pilot, TRUSTED_OPEN)
        await pilot.press("t")
        await wait_until(lambda: isinstance(app.screen, TransferScreen))
        dialog = app.screen
        assert isinstance(dialog, TransferScreen)
        labels = {
            target: str(label) for target, label in zip(dialog.targets, dialog.labels, strict=False)
        }
        assert ("agent", "alice") not in labels  # not to oneself
        desk = other.desk
        for handle, words in (
            ("bruno", "available"),
            ("chen", "unavailable"),
            ("dana", "at capacity"),
        ):
            row = desk.query_one(
                "SELECT open_conversations, capacity FROM agents WHERE handle = ?", (handle,)
            )
            assert row is not None
            label = labels[("agent", handle)]
            assert f"{row[0]}/{row[1]} open" in label and label.endswith(words), label
        assert labels[("inbox", "Returns")].startswith("Inbox  Returns")
        await pilot.press("escape")


# -- the login prompt -----------------------------------------------------------------------------


async def test_login_prompt_to_a_verified_customer_asks_first(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await open_conversation(pilot, TRUSTED_OPEN)
        before = items(db, TRUSTED_OPEN)
        await pilot.press("l")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert "is verified already" in dialog.question and "anyway" in dialog.question
        await pilot.press("n")
        await wait_until(lambda: isinstance(app.screen, ConversationScreen))
        await settle(pilot)
        assert items(db, TRUSTED_OPEN) == before
        await pilot.press("l")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(lambda: items(db, TRUSTED_OPEN)[-1][2] == "login_prompt_sent")


async def test_login_prompt_to_a_claimed_customer_goes_at_once(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await open_conversation(pilot, CLAIMED_OPEN)
        await pilot.press("l")
        await wait_until(lambda: items(db, CLAIMED_OPEN)[-1][2] == "login_prompt_sent")
        assert not isinstance(app.screen, ConfirmScreen)
