"""The agent console, driven with Pilot: every action, live updates, keys, feed, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from core.engine import Engine
from core.errors import NotFound, StoreError
from core.store import Desk
from core.store.profiles import ProfileHit
from tests.console_helpers import (
    INJECTION_CORPUS,
    SIZE,
    add_injection_conversation,
    customer_writes,
    frozen_clock,
    wait_until,
)
from tests.helpers import one_row
from tui.app import DeskApp, make_app
from tui.keymap import KeymapError
from tui.screens.conversation import TIMELINE_PAGE, ConversationScreen
from tui.screens.dialogs import ConfirmScreen, HelpScreen, SearchScreen, TransferScreen
from tui.screens.queue import QueueScreen
from tui.widgets.queue_list import MARK_WIDTH, QueueList, columns
from tui.widgets.timeline import TimelineView

#: Alice's conversations in the demo desk: 384 trusted & open, 376 scenario 4 (mixed); 361's
#: trust window ended before the fixtures end.
TRUSTED_OPEN = 384
#: Hana Chen's open conversation (alice's), found by search.
HANA_OPEN = 361
MIXED = 376
CLAIMED_OPEN = 370  # bruno's, onboarding form, customer waiting
CLOSED_TRUSTED = 2


def console(db: Path, agent: str = "alice", **kwargs: object) -> DeskApp:
    return make_app(db, agent=agent, clock=frozen_clock(), **kwargs)  # type: ignore[arg-type]


async def settle(pilot: Pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def queue_ready(pilot: Pilot) -> QueueList:
    await wait_until(lambda: isinstance(pilot.app.screen, QueueScreen))
    queue = pilot.app.screen.query_one(QueueList)
    await wait_until(lambda: queue.loaded)
    await settle(pilot)
    return queue


async def open_conversation(pilot: Pilot, conversation_id: int) -> ConversationScreen:
    app: DeskApp = pilot.app  # type: ignore[assignment]
    await queue_ready(pilot)
    app.open_conversation(conversation_id)
    await wait_until(lambda: isinstance(app.screen, ConversationScreen))
    screen = app.screen
    assert isinstance(screen, ConversationScreen)
    # the screen is current before it is composed: look for its timeline only once it is there
    await wait_until(
        lambda: (
            screen.view is not None
            and bool(screen.query(TimelineView))
            and bool(screen.timeline.items)
        )
    )
    await settle(pilot)
    return screen


def mark_of(queue: QueueList, y: int) -> str:
    """The trusted mark of a queue line (✔ or a blank): the head of its last message cell."""
    start = sum(column.width + 1 for column in columns(queue.size.width)[:-1])
    return queue.render_line(y).text[start : start + MARK_WIDTH].strip()


def timeline_lines(screen: ConversationScreen) -> list[str]:
    return screen.timeline.lines_text()


def items(db: Path, conversation_id: int) -> list[tuple]:
    desk = Desk.open(db, create=False)
    try:
        return [
            tuple(r)
            for r in desk.query(
                "SELECT type, sender, event, body, trusted FROM items"
                " WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        ]
    finally:
        desk.close()


def status_of(db: Path, conversation_id: int) -> tuple[str, str | None, str]:
    desk = Desk.open(db, create=False)
    try:
        row = one_row(
            desk,
            "SELECT c.status, a.handle, i.name FROM conversations c"
            " LEFT JOIN agents a ON a.id = c.assignee_id JOIN inboxes i ON i.id = c.inbox_id"
            " WHERE c.id = ?",
            (conversation_id,),
        )
        return (row[0], row[1], row[2])
    finally:
        desk.close()


# -- starting -------------------------------------------------------------------------------------


def test_unknown_agent_is_refused_before_textual_starts(db: Path) -> None:
    with pytest.raises(NotFound) as caught:
        make_app(db, agent="zed")
    message = str(caught.value)
    assert "zed" in message
    for handle in ("alice", "bruno", "chen", "dana", "emil"):
        assert handle in message


def test_missing_or_foreign_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        make_app(tmp_path / "nope.db", agent="alice")
    assert not (tmp_path / "nope.db").exists()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all")
    with pytest.raises(StoreError):
        make_app(junk, agent="alice")
    assert junk.read_bytes() == b"not a database at all"


# -- queue ----------------------------------------------------------------------------------------


async def test_queue_shows_own_open_conversations_longest_wait_first(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        rows = queue.visible_rows()
        assert [r.id for r in rows] == [361, 364, 368, 376, 384, 371]
        assert all(r.assignee == "alice" and r.status != "CLOSED" for r in rows)
        waiting = [r.waiting_since or 0 for r in rows if r.customer_waiting]
        assert waiting == sorted(waiting)
        start = sum(column.width + 1 for column in columns(queue.size.width)[:-1])
        for y, row in enumerate(rows, start=1):
            line = queue.render_line(y).text
            # The mark of the last customer message stands just before it, and nowhere else.
            assert (mark_of(queue, y) == "✔") == (row.glyph == "green"), line
            assert line.count("✔") == (row.glyph == "green"), line
            assert line[start + MARK_WIDTH :].startswith(row.last_preview[:20]), line
            assert row.customer in line


async def test_filters_view_status_and_trust(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        await pilot.press("v", "v")  # Unassigned, then inbox Chat
        await wait_until(lambda: queue.loaded)
        await settle(pilot)
        assert queue.total > 0 and {r.inbox for r in queue.visible_rows()} == {"Chat"}
        assert {r.assignee for r in queue.visible_rows()} != {"alice"}
        await pilot.press("s", "s", "s")  # closed
        await wait_until(lambda: queue.loaded)
        await settle(pilot)
        assert {r.status for r in queue.visible_rows()} == {"CLOSED"}
        await pilot.press("t")  # trusted only
        await wait_until(lambda: queue.loaded)
        await settle(pilot)
        rows = queue.visible_rows()
        assert rows and all(r.last_customer_trusted for r in rows)
        assert all(mark_of(queue, y) == "✔" for y in range(1, len(rows) + 1))
        await pilot.press("t")  # untrusted only
        await wait_until(lambda: queue.loaded)
        await settle(pilot)
        rows = queue.visible_rows()
        assert rows and not any(r.last_customer_trusted for r in rows)
        assert not any("✔" in queue.render_line(y).text for y in range(1, len(rows) + 1))
        filter_bar = str(app.screen.query_one("#filter-bar").render())
        assert "Inbox Chat" in filter_bar and "closed" in filter_bar and "untrusted" in filter_bar


async def test_keyboard_navigation_and_open_and_back(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        await pilot.press("down", "down")
        assert queue.cursor == 2
        expected = queue.selected
        assert expected is not None
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConversationScreen))
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        assert screen.conversation_id == expected.id
        await pilot.press("escape")
        await wait_until(lambda: isinstance(app.screen, QueueScreen))
        assert queue.cursor == 2


async def test_scrolling_a_long_queue_reads_pages_on_demand(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=(120, 20)) as pilot:
        queue = await queue_ready(pilot)
        await pilot.press("v", "v", "v", "v", "v", "s", "s", "s", "s")  # All, all statuses
        await wait_until(lambda: queue.loaded and queue.total == 384)
        await settle(pilot)
        await pilot.press("end")
        assert queue.cursor == 383
        assert queue.selected is not None
        assert int(queue.scroll_y) >= 383 - queue.page_height
        await pilot.press("home", "pagedown")
        assert queue.cursor == queue.page_height


# -- conversation ---------------------------------------------------------------------------------


async def test_trusted_open_conversation_has_green_glyphs_only_on_trusted(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, MIXED)
        timeline = screen.timeline
        stored = items(db, MIXED)
        assert [i.body for i in timeline.items] == [r[3] for r in stored]
        lines = timeline_lines(screen)
        first_lines = [line for line in lines if line[2:14].strip()]  # with a time
        assert len(first_lines) == len(stored)
        for line, row in zip(first_lines, stored, strict=True):
            assert line.startswith("✔") == (row[4] == 1), line
        glyph_style = timeline.get_component_rich_style("timeline--glyph-green")
        triplet = glyph_style.color.triplet if glyph_style.color is not None else None
        assert triplet is not None and triplet.green > 150
        banner = str(screen.query_one("#banner").render())
        assert "TRUSTED · jwt" in banner and "after the chat was routed" in banner


async def test_claimed_banner_and_profile_pane(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, CLAIMED_OPEN)
        banner = str(screen.query_one("#banner").render())
        assert "Claimed via onboarding form — not verified." in banner
        assert "Ask them to log in before discussing the account." in banner
        profile = str(screen.query_one("#profile").render())
        view = screen.view
        assert view is not None
        for email in view.profile.emails:
            assert email in profile
        assert "Past conversations" in profile


async def test_reply_is_sent_and_appears_without_losing_focus(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, TRUSTED_OPEN)
        await pilot.press("r")
        assert app.focused is screen.composer
        await pilot.press(*"On it, Hana.")
        await pilot.press("enter")
        await wait_until(lambda: any(i.body == "On it, Hana." for i in screen.timeline.items))
        assert items(db, TRUSTED_OPEN)[-1][:4] == ("message", "agent", None, "On it, Hana.")
        assert screen.composer.value == ""
        assert app.focused is screen.composer
        assert status_of(db, TRUSTED_OPEN)[0] == "WAITING"


async def test_blank_reply_is_refused_and_writes_nothing(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, TRUSTED_OPEN)
        before = items(db, TRUSTED_OPEN)
        await pilot.press("r", "space", "space", "enter")
        await settle(pilot)
        assert items(db, TRUSTED_OPEN) == before
        assert any("Type a reply first" in str(n.message) for n in app._notifications)
        assert screen.is_current


async def test_reply_refused_by_the_engine_gives_the_draft_back(db: Path, other: Engine) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, 371)
        await pilot.press("r", *"hello")
        other.close(371, "bruno")  # closed elsewhere while alice types
        before = items(db, 371)
        await pilot.press("enter")
        await wait_until(lambda: any("closed" in str(n.message) for n in app._notifications))
        await wait_until(lambda: screen.composer.value == "hello")
        assert items(db, 371) == before


async def test_typing_a_reply_on_a_closed_conversation_never_triggers_actions(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, CLOSED_TRUSTED)
        before = items(db, CLOSED_TRUSTED)
        await pilot.press("r", *"ok, reopen / close this")
        await settle(pilot)
        assert screen.composer.value == "ok, reopen / close this"
        assert isinstance(app.screen, ConversationScreen)
        await pilot.press("enter")
        await wait_until(
            lambda: any("reopen it first" in str(n.message) for n in app._notifications)
        )
        await wait_until(lambda: screen.composer.value == "ok, reopen / close this")
        assert items(db, CLOSED_TRUSTED) == before
        assert status_of(db, CLOSED_TRUSTED)[0] == "CLOSED"


async def test_login_prompt(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, CLAIMED_OPEN)
        await pilot.press("l")
        await wait_until(lambda: any(i.event == "login_prompt_sent" for i in screen.timeline.items))
        stored = items(db, CLAIMED_OPEN)
        assert stored[-2][1] == "agent" and "log in" in stored[-2][3]
        assert stored[-1][2] == "login_prompt_sent"
        assert any("login prompt" in line for line in timeline_lines(screen))


async def test_close_asks_first_when_the_customer_waits(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, TRUSTED_OPEN)
        await pilot.press("c")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await settle(pilot)
        assert status_of(db, TRUSTED_OPEN)[0] == "OPEN"
        await pilot.press("c")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(lambda: screen.view is not None and screen.view.status == "CLOSED")
        assert status_of(db, TRUSTED_OPEN)[0] == "CLOSED"
        # Trusted messages now show the gray glyph.
        await wait_until(lambda: screen.timeline.status == "CLOSED")
        gray = screen.timeline.get_component_rich_style("timeline--glyph-gray")
        green = screen.timeline.get_component_rich_style("timeline--glyph-green")
        trusted_line = next(
            n for n, line in enumerate(timeline_lines(screen)) if line.startswith("✔")
        )
        first_segment = list(screen.timeline._line_strip(trusted_line, 100))[0]
        assert first_segment.text == "✔"
        assert first_segment.style is not None
        assert first_segment.style.color == gray.color != green.color


async def test_close_without_a_waiting_customer_and_reopen(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, 371)  # WAITING: the agent answered last
        await pilot.press("c")
        await wait_until(lambda: screen.view is not None and screen.view.status == "CLOSED")
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("o")
        await wait_until(lambda: screen.view is not None and screen.view.status != "CLOSED")
        assert status_of(db, 371) == ("WAITING", "alice", "Billing")
        assert [r[2] for r in items(db, 371)][-2:] == ["closed", "reopened"]


async def test_transfer_to_agent_and_to_inbox(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, TRUSTED_OPEN)
        await pilot.press("t")
        await wait_until(lambda: isinstance(app.screen, TransferScreen))
        await pilot.press("enter")  # first option: bruno
        await wait_until(lambda: status_of(db, TRUSTED_OPEN)[1] == "bruno")
        await wait_until(lambda: screen.view is not None and screen.view.assignee == "bruno")
        await pilot.press("t")
        await wait_until(lambda: isinstance(app.screen, TransferScreen))
        dialog = app.screen
        assert isinstance(dialog, TransferScreen)
        returns = dialog.targets.index(("inbox", "Returns"))
        for _ in range(returns):
            await pilot.press("down")
        await pilot.press("enter")
        await wait_until(lambda: status_of(db, TRUSTED_OPEN)[2] == "Returns")
        assert [r[2] for r in items(db, TRUSTED_OPEN)][-2:] == ["transferred", "transferred"]


async def test_transfer_cancel_changes_nothing(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await open_conversation(pilot, TRUSTED_OPEN)
        before = items(db, TRUSTED_OPEN)
        await pilot.press("t")
        await wait_until(lambda: isinstance(app.screen, TransferScreen))
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ConversationScreen)
        assert items(db, TRUSTED_OPEN) == before


async def test_search_profiles_by_name_email_and_phone(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await queue_ready(pilot)
        for query in ("Hana Chen", "hana.chen@example.org", "+14155550065"):
            await pilot.press("slash")
            await wait_until(lambda: isinstance(app.screen, SearchScreen))
            search = app.screen
            assert isinstance(search, SearchScreen)
            await pilot.press(*query)
            await wait_until(lambda s=search: bool(s.hits))  # type: ignore[misc]
            await settle(pilot)
            assert isinstance(search.hits[0], ProfileHit) and search.hits[0].name == "Hana Chen"
            await pilot.press("enter")
            await wait_until(lambda: isinstance(app.screen, ConversationScreen))
            assert app.screen.conversation_id == HANA_OPEN  # type: ignore[attr-defined]
            await pilot.press("escape")
            await wait_until(lambda: isinstance(app.screen, QueueScreen))


async def test_search_with_hostile_text_finds_nothing(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await queue_ready(pilot)
        await pilot.press("slash")
        await wait_until(lambda: isinstance(app.screen, SearchScreen))
        await pilot.press(*"'; DROP TABLE profiles; --")
        await settle(pilot)
        search = app.screen
        assert isinstance(search, SearchScreen) and search.hits == []
        await pilot.press("enter", "escape")
        await wait_until(lambda: isinstance(app.screen, QueueScreen))


async def test_help_lists_the_keys(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await open_conversation(pilot, TRUSTED_OPEN)
        await pilot.press("question_mark")
        await wait_until(lambda: isinstance(app.screen, HelpScreen))
        keys = {k.description: k.keys for k in app.screen.keys}  # type: ignore[attr-defined]
        assert keys["Login prompt"] == "l" and "Close" in keys and "Transfer" in keys
        await pilot.press("escape")
        await wait_until(lambda: isinstance(app.screen, ConversationScreen))


async def test_command_palette_runs_actions_and_finds_customers(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await open_conversation(pilot, CLAIMED_OPEN)
        await pilot.press("ctrl+p")
        await pilot.press(*"Send login prompt")
        await settle(pilot)
        await pilot.press("enter")
        await wait_until(lambda: items(db, CLAIMED_OPEN)[-1][2] == "login_prompt_sent")
        await pilot.press("ctrl+p")
        await pilot.press(*"Hana Chen")
        await wait_until(
            lambda: any("Customer: Hana Chen" in str(o.prompt) for o in _palette_options(app))
        )
        await settle(pilot)
        options = _palette_options(app)
        index = next(n for n, o in enumerate(options) if "Customer: Hana Chen" in str(o.prompt))
        for _ in range(index):
            await pilot.press("down")
        await pilot.press("enter")
        await wait_until(
            lambda: getattr(app.screen, "conversation_id", None) == HANA_OPEN, timeout=5
        )


def _palette_options(app: DeskApp) -> list:
    from textual.command import CommandList

    try:
        command_list = app.screen.query_one(CommandList)
    except Exception:
        return []
    return [command_list.get_option_at_index(n) for n in range(command_list.option_count)]


# -- live updates -----------------------------------------------------------------------------------


async def test_customer_message_from_another_process_appears_in_queue(
    db: Path, other: Engine
) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        session = other.init_session("retale")
        other.set_user(session.session_id, name="Nora New", email="nora.new@example.com")
        sent = other.send_message(session.session_id, "Hello from the website")
        await pilot.press("v", "v", "v", "v", "v")  # All conversations
        await wait_until(lambda: any(r.id == sent.conversation_id for r in queue.visible_rows()))
        await wait_until(lambda: queue.loaded and queue.total == 25)
        other.send_message(session.session_id, "Second message [red]boom[/]")
        await wait_until(
            lambda: any(
                r.id == sent.conversation_id and "Second message" in r.last_preview
                for r in queue.visible_rows()
            )
        )


async def test_live_update_keeps_focus_and_draft(db: Path, other: Engine) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, TRUSTED_OPEN)
        await pilot.press("r", *"half-typed answer")
        before = len(screen.timeline.items)
        customer_writes(other, "diego.fischer@example.org", "Hello?")  # from another process
        await wait_until(lambda: len(screen.timeline.items) > before, timeout=10)
        assert screen.timeline.items[-1].body == "Hello?"
        assert app.focused is screen.composer
        assert screen.composer.value == "half-typed answer"
        # Sent while trusted: the glyph on the new line.
        assert timeline_lines(screen)[-1].startswith("✔")


async def test_changes_by_another_agent_reach_the_open_conversation(
    db: Path, other: Engine
) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, TRUSTED_OPEN)
        other.reply(TRUSTED_OPEN, "bruno", "Bruno here, taking a look")
        other.close(TRUSTED_OPEN, "bruno")
        await wait_until(lambda: screen.view is not None and screen.view.status == "CLOSED")
        await wait_until(lambda: screen.timeline.status == "CLOSED")
        assert any("Bruno here" in i.body for i in screen.timeline.items)
        assert "closed" in str(screen.query_one("#banner").render())


async def test_two_consoles_share_one_desk(db: Path, other: Engine) -> None:
    """Bruno's console sees alice's transfer; alice's queue loses the conversation."""
    alice = console(db)
    async with alice.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        assert TRUSTED_OPEN in [r.id for r in queue.visible_rows()]
        other.transfer(TRUSTED_OPEN, "bruno", to_agent="bruno")  # bruno's console acts
        await wait_until(lambda: TRUSTED_OPEN not in [r.id for r in queue.visible_rows()])
    bruno = console(db, agent="bruno")
    async with bruno.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        assert TRUSTED_OPEN in [r.id for r in queue.visible_rows()]


async def test_older_items_load_when_scrolling_to_the_top(db: Path) -> None:
    desk = Desk.open(db, clock=frozen_clock(), create=False)
    engine = Engine(desk)
    for n in range(230):
        engine.reply(TRUSTED_OPEN, "alice", f"note {n}")
    desk.close()
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, TRUSTED_OPEN)
        timeline = screen.timeline
        assert len(timeline.items) == TIMELINE_PAGE and timeline.has_older
        first_visible = timeline.items[0].id
        timeline.focus()
        for _ in range(5):  # each scroll to the top loads one older page
            if not timeline.has_older:
                break
            held = len(timeline.items)
            await pilot.press("home")
            await wait_until(lambda held=held: len(timeline.items) > held)  # type: ignore[misc]
        assert not timeline.has_older
        assert len(timeline.items) == len(items(db, TRUSTED_OPEN))
        assert timeline.items[0].id < first_visible


# -- hostile text -----------------------------------------------------------------------------------


async def test_injection_corpus_is_shown_literally(db: Path) -> None:
    desk = Desk.open(db, clock=frozen_clock(), create=False)
    ids = [
        add_injection_conversation(desk, name=name, body=body, trusted=False, at=1_795_000_000_000)
        for name, body in INJECTION_CORPUS
    ]
    desk.close()
    app = console(db)
    async with app.run_test(size=(160, 40)) as pilot:
        queue = await queue_ready(pilot)
        lines = [queue.render_line(y).text for y in range(1, queue.total + 1)]
        hostile = [line for line in lines if "⟨U+2714⟩" in line or "␛" in line]
        assert hostile, lines
        for line in lines:
            assert "\x1b" not in line and "\u202e" not in line
        for conversation_id in ids:
            app.open_conversation(conversation_id)
            await wait_until(
                lambda c=conversation_id: (  # type: ignore[misc]
                    isinstance(app.screen, ConversationScreen)
                    and app.screen.conversation_id == c
                    and app.screen.view is not None
                )
            )
            screen = app.screen
            assert isinstance(screen, ConversationScreen)
            assert screen.timeline.items
            text = "\n".join(timeline_lines(screen))
            assert "✔" not in text  # untrusted: no glyph, and no look-alike from the text
            assert "\x1b" not in text and "\x07" not in text and "\u200b" not in text
            await pilot.press("escape")


# -- keys, feed ---------------------------------------------------------------------------------------


async def test_keys_are_remappable_from_a_config_file(db: Path, tmp_path: Path) -> None:
    config = tmp_path / "keys.toml"
    config.write_text('[keys]\n"conversation.login_prompt" = "x"\n', encoding="utf-8")
    app = console(db, config_path=config)
    async with app.run_test(size=SIZE) as pilot:
        await open_conversation(pilot, CLAIMED_OPEN)
        before = len(items(db, CLAIMED_OPEN))
        await pilot.press("l")
        await settle(pilot)
        assert len(items(db, CLAIMED_OPEN)) == before  # `l` no longer sends it
        await pilot.press("x")
        await wait_until(lambda: items(db, CLAIMED_OPEN)[-1][2] == "login_prompt_sent")


@pytest.mark.parametrize(
    "content, expected",
    [
        ('[keys]\n"nope.action" = "x"\n', "unknown binding id 'nope.action'"),
        ('[keys]\n"conversation.close" = 3\n', "is not a key list"),
        ('[keys]\n"conversation.close" = "ctrl+\\u001b"\n', "is not a key list"),
        ("[colors]\nx = 1\n", "unknown section"),
        ("keys = [", "not valid TOML"),
    ],
)
def test_bad_key_configs_are_refused_with_a_clear_message(
    db: Path, tmp_path: Path, content: str, expected: str
) -> None:
    config = tmp_path / "keys.toml"
    config.write_text(content, encoding="utf-8")
    with pytest.raises(KeymapError) as caught:
        make_app(db, agent="alice", config_path=config)
    assert expected in str(caught.value) and str(config) in str(caught.value)


def test_missing_explicit_key_config_is_refused(db: Path, tmp_path: Path) -> None:
    with pytest.raises(KeymapError, match="no such key config file"):
        make_app(db, agent="alice", config_path=tmp_path / "absent.toml")


class FakeFeed:
    def __init__(self) -> None:
        self.started = 0
        self.stopped = 0
        self.paused = False

    def start(self) -> None:
        self.started += 1

    def stop(self) -> None:
        self.stopped += 1

    def toggle_pause(self) -> bool:
        self.paused = not self.paused
        return self.paused

    @property
    def status_line(self) -> str:
        return f"feed: 3 customers · {'paused' if self.paused else 'running'}"


async def test_feed_starts_shows_status_pauses_and_stops(db: Path) -> None:
    feed = FakeFeed()
    app = console(db, customers=feed)
    async with app.run_test(size=SIZE) as pilot:
        await queue_ready(pilot)
        assert feed.started == 1
        bar = app.screen.query_one("#status-bar")
        assert "feed: 3 customers · running" in str(bar.render())
        await pilot.press("p")
        assert feed.paused
        await wait_until(lambda: "paused" in str(bar.render()))
    assert feed.stopped == 1


async def test_pause_key_does_nothing_without_a_feed(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await queue_ready(pilot)
        assert app.check_action("toggle_feed", ()) is False
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)


async def test_profile_pane_hides_on_narrow_terminals_and_toggles(db: Path) -> None:
    app = console(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_conversation(pilot, MIXED)
        pane = screen.query_one("#profile-scroll")
        assert not pane.display
        body_width = screen.timeline.scrollable_content_region.width
        assert body_width >= 70
        await pilot.press("i")
        assert pane.display
        await pilot.press("i")
        assert not pane.display


async def test_an_action_refused_by_the_engine_is_reported_and_changes_nothing(
    db: Path, other: Engine
) -> None:
    app = console(db, tail_interval=60.0)  # the console does not hear of the close below
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, 371)
        other.close(371, "bruno")
        before = items(db, 371)
        await pilot.press("l")  # allowed by the stale view; the engine refuses
        await wait_until(
            lambda: any("reopen it first" in str(n.message) for n in app._notifications)
        )
        assert items(db, 371) == before
        assert screen.is_current


async def test_a_claim_shows_its_name_beside_the_profile_and_the_other_chat(
    db: Path, other: Engine
) -> None:
    """A claimed session with Diego's email gets its own chat: the banner keeps the profile's
    name and shows the claimed one literally; the timeline says another chat is open."""
    session = other.init_session("retale").session_id
    other.set_user(session, name="[green]Mallory[/]", email="diego.fischer@example.org")
    sent = other.send_message(session, "It's me, Diego")
    assert sent.conversation_id != TRUSTED_OPEN
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_conversation(pilot, sent.conversation_id)
        banner = str(screen.query_one("#banner").render())
        assert "Diego Fischer (says: [green]Mallory[/])" in banner
        assert any("· other chat" in line for line in timeline_lines(screen))


async def test_search_opens_a_conversation_at_the_message_found(db: Path) -> None:
    from core.store.search import MessageHit

    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await queue_ready(pilot)
        await pilot.press("slash")
        await wait_until(lambda: isinstance(app.screen, SearchScreen))
        search = app.screen
        assert isinstance(search, SearchScreen)
        await pilot.press(*"wool coat")
        await wait_until(lambda s=search: any(isinstance(h, MessageHit) for h in s.hits))  # type: ignore[misc]
        await settle(pilot)
        index = next(n for n, h in enumerate(search.hits) if isinstance(h, MessageHit))
        hit = search.hits[index]
        assert isinstance(hit, MessageHit)
        search.query_one("#search-results").highlighted = index  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConversationScreen))
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        assert screen.conversation_id == hit.conversation_id
        await wait_until(lambda: bool(screen.query(TimelineView)) and bool(screen.timeline.items))
        await settle(pilot)
        assert screen.timeline.focus_item == hit.item_id
        line = screen.timeline.focus_line()
        assert line is not None and 0 <= line < screen.timeline.scrollable_content_region.height
        shown = "\n".join(screen.timeline.lines_text())
        assert "wool coat" in shown


def test_a_message_hit_shows_the_words_found_in_bold_and_no_marks() -> None:
    from core.store.search import HIT_END, HIT_START, MessageHit
    from tui.screens.dialogs import SearchScreen

    hit = MessageHit(
        7, 70, f"Do you have the {HIT_START}wool{HIT_END} coat\x1b?", "Ana", "OPEN", 0, "customer"
    )
    label = SearchScreen._label(hit)
    assert label.plain == "#7 Ana · open · customer: Do you have the wool coat␛?"
    bold = [label.plain[s.start : s.end] for s in label.spans if "reverse" in str(s.style)]
    assert bold == ["wool"]
