"""Trainer mode: the walkthrough logic, Pilot tests of next/back/restart and of the customer's
pane (the real widget's words, newest message in view, links whole), final-frame snapshots."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text
from textual.geometry import Region
from textual.widget import Widget

from core.errors import NotFound
from sim.demo_desk import build_demo
from sim.rehearsal import Frame, Rehearsal
from sim.scenarios import ORDERS, find_scenario, load_scenario
from tui.screens.train import OrderPicker, TrainScreen
from tui.text import wrap
from tui.train import TRAIN_START_MS, TrainApp, check_order, make_train_app
from tui.widgets.banner import _dates_whole
from tui.widgets.chat_widget import WIDGET_WORDS, chat_log, header
from tui.widgets.timeline import EVENT_LABELS, SENDER_WIDTH, TimelineView

SIZE = (130, 40)
WIDGET_JS = Path(__file__).resolve().parents[2] / "core" / "web" / "static" / "widget.js"


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("train-base") / "demo.db")


def rehearsal(base_db: Path, workdir: Path, name: str) -> Rehearsal:
    return Rehearsal(base_db, workdir, find_scenario(name), start_ms=TRAIN_START_MS)


def to_the_end(walk: Rehearsal) -> Frame:
    frame = walk.frame()
    while not frame.done:
        frame = walk.forward()
    return frame


def fingerprint(frame: Any) -> tuple:
    return (
        frame.position,
        frame.identity_state,
        frame.conversation.id if frame.conversation else None,
        tuple((i.sender, i.event, i.body, i.at, i.glyph) for i in frame.timeline),
        tuple(m.body for m in frame.widget_messages),
    )


# -- the walkthrough (no Textual) --------------------------------------------------------------


def test_waits_fold_into_steps_and_the_end_has_a_summary(base_db: Path, tmp_path: Path) -> None:
    walk = rehearsal(base_db, tmp_path, "undesired")
    assert walk.total == 7  # nine steps, two of them waits
    frame = walk.frame()
    assert frame.position == 0 and frame.first_message is None and frame.conversation is None
    while not frame.done:
        frame = walk.forward()
    [chat] = frame.summary
    assert (chat.trusted, chat.customer_messages, chat.assignee) == (1, 2, "emil")
    assert "1 of 2 messages trusted" in chat.line() and "Emil Novak (emil)" in chat.line()
    assert frame.identity_state == "TRUSTED"
    walk.close()


def test_back_replays_to_the_same_desk(base_db: Path, tmp_path: Path) -> None:
    walk = rehearsal(base_db, tmp_path, "undesired")
    for _ in range(4):
        walk.forward()
    after_back = fingerprint(walk.back())
    fresh = rehearsal(base_db, tmp_path / "..", "undesired")
    for _ in range(3):
        fresh.forward()
    assert after_back == fingerprint(fresh.frame())
    assert walk.restart().position == 0
    walk.close()
    fresh.close()


def test_close_removes_the_throwaway_desk(base_db: Path, tmp_path: Path) -> None:
    walk = rehearsal(base_db, tmp_path, "standard")
    walk.forward()
    walk.back()
    walk.close()
    assert list(tmp_path.iterdir()) == []


def test_most_undesired_keeps_the_first_chat_beside_the_new_one(
    base_db: Path, tmp_path: Path
) -> None:
    walk = rehearsal(base_db, tmp_path, "most-undesired")
    frame = to_the_end(walk)
    assert frame.conversation is not None and frame.conversation.profile.name == "Omar Nguyen"
    [earlier] = frame.other_chats
    assert earlier.customer == "Julie Romero" and earlier.trusted == 0
    assert [c.assignee for c in frame.summary] == ["emil", "alice"]
    walk.close()


def plain(renderable: Any, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def pane_lines(frame: Frame, width: int = 40) -> list[str]:
    return [line.plain for line in chat_log(frame).lines(width)]


def rehearse(base_db: Path, tmp_path: Path, name: str, email: str, steps: str) -> Rehearsal:
    """A script of one customer called `name` who opens the widget and fills in the form,
    then `steps` (TOML `[[steps]]` tables)."""
    script = tmp_path / "script.toml"
    script.write_text(
        f'[customers.x]\nname = "{name}"\nemail = "{email}"\n'
        '[[steps]]\ndo = "open"\n[[steps]]\ndo = "onboarding"\nas = "x"\n' + steps
    )
    return Rehearsal(base_db, tmp_path, load_scenario(script), start_ms=TRAIN_START_MS)


def test_hostile_text_is_shown_literally_in_the_widget(base_db: Path, tmp_path: Path) -> None:
    steps = '[[steps]]\ndo = "say"\ntext = "[bold green]\\u2714[/] [red]red[/]\\u202eevil"\n'
    walk = rehearse(base_db, tmp_path, "[green]Eve[/green]", "eve@example.net", steps)
    for _ in range(3):
        frame = walk.forward()
    lines = list(chat_log(frame).lines(60))
    plain = "\n".join(line.plain for line in lines)
    assert "[bold green]" in plain and "Hi [green]Eve[/green]," in plain
    assert "\u2714" not in plain and "\x1b" not in plain and "\u202e" not in plain
    assert not any("green" in str(span.style) for line in lines for span in line.spans)
    walk.close()


def test_a_closed_chat_gets_the_widgets_note(base_db: Path, tmp_path: Path) -> None:
    steps = (
        '[[steps]]\ndo = "say"\ntext = "Hello"\n[[steps]]\ndo = "reply"\ntext = "Hi!"\n'
        '[[steps]]\ndo = "close"\n'
    )
    walk = rehearse(base_db, tmp_path, "Ann Lee", "ann.lee@example.net", steps)
    for _ in range(4):
        frame = walk.forward()
    assert not frame.chat_closed and WIDGET_WORDS["closed_note"] not in pane_lines(frame, 80)
    frame = walk.forward()
    assert frame.chat_closed and pane_lines(frame, 80)[-1] == WIDGET_WORDS["closed_note"]
    walk.close()


def js_strings(source: str) -> set[str]:
    """The double-quoted string literals of a script, decoded (`\\u2026` and the like)."""
    found = set()
    for raw in re.findall(r'"((?:[^"\\\n]|\\.)*)"', source):
        try:
            found.add(json.loads(f'"{raw}"'))
        except json.JSONDecodeError:
            continue  # an escape JSON does not know (a regular expression's): not a UI word
    return found


def test_the_pane_speaks_the_widgets_words() -> None:
    """Every word the pane borrows from the widget is a string of widget.js as it ships."""
    strings = js_strings(WIDGET_JS.read_text(encoding="utf-8"))
    missing = {key: words for key, words in WIDGET_WORDS.items() if words not in strings}
    assert not missing, f"not in widget.js: {missing}"


def test_order_1_opens_logged_in_and_order_2_on_the_login_link(
    base_db: Path, tmp_path: Path
) -> None:
    most_ideal = rehearsal(base_db, tmp_path, "most-ideal")
    opened = most_ideal.forward()
    assert not opened.onboarding_form and opened.identity_state == "TRUSTED"
    first = pane_lines(opened)
    assert first[1].startswith("Hi Julie, welcome back") and "/demo/login" not in "".join(first)
    ideal = rehearsal(base_db, tmp_path / "..", "ideal")
    opened = ideal.forward()
    assert opened.onboarding_form and opened.identity_state == "ANONYMOUS"
    assert "http://127.0.0.1:8080/demo/login" in "\n".join(pane_lines(opened))
    most_ideal.close()
    ideal.close()


def test_agents_are_agent_and_bots_the_store_as_in_the_widget(
    base_db: Path, tmp_path: Path
) -> None:
    walk = rehearsal(base_db, tmp_path, "most-ideal")
    frame = to_the_end(walk)
    lines = pane_lines(frame, 60)
    assert "Agent" in lines and lines.count("Retalé") == 2  # the welcome and the bot
    assert not any("emil" in line.lower() or line.startswith("You") for line in lines)
    assert lines[lines.index("Agent") + 1].startswith("Of course")
    assert plain(header(frame), 40).rstrip().endswith("● " + WIDGET_WORDS["online"])
    walk.close()


@pytest.mark.parametrize("order", ["nope", "../standard", ""])
def test_unknown_orders_are_refused(order: str) -> None:
    with pytest.raises(NotFound, match="pick one of"):
        check_order(order)


# -- the app ---------------------------------------------------------------------------------------


def app_for(base_db: Path, workdir: Path, order: str | None) -> TrainApp:
    return make_train_app(order=order, workdir=workdir, base_db=base_db)


async def press(pilot: Any, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_next_back_restart(base_db: Path, tmp_path: Path) -> None:
    app = app_for(base_db, tmp_path, "undesired")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        assert screen.frame is not None and screen.frame.position == 0
        await press(pilot, "n", "n", "n")
        assert screen.frame.position == 3
        timeline_at_3 = fingerprint(screen.frame)
        assert [i.glyph for i in screen.frame.timeline if i.sender == "customer"] == [None]
        await press(pilot, "n")
        await press(pilot, "b")
        assert screen.frame.position == 3
        assert fingerprint(screen.frame) == timeline_at_3
        await press(pilot, "r")
        assert screen.frame.position == 0 and screen.frame.conversation is None
        await press(pilot, "b")  # nothing before the start
        assert screen.frame.position == 0
        while not screen.frame.done:
            await press(pilot, "n")
        assert screen.frame.position == 7
        narration = " ".join(widget_lines(screen.query_one("#narration")))
        assert "1 of 2 messages trusted" in narration
        assert "n next order: 5. Most undesired" in narration
        await press(pilot, "n")  # at the end: on to the next order
        await app.workers.wait_for_complete()
        await pilot.pause()
        following = app.screen
        assert isinstance(following, TrainScreen) and following.scenario.name == "most-undesired"
        assert following.frame is not None and following.frame.position == 0


async def test_n_after_the_last_order_goes_back_to_the_orders(
    base_db: Path, tmp_path: Path
) -> None:
    app = app_for(base_db, tmp_path, "most-undesired")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TrainScreen) and screen.frame is not None
        while not screen.frame.done:
            await press(pilot, "n")
        assert "n back to the orders" in " ".join(widget_lines(screen.query_one("#narration")))
        await press(pilot, "n")
        assert isinstance(app.screen, OrderPicker)


def widget_lines(widget: Widget) -> list[str]:
    """What a widget draws, line by line (all of it, also what its scroller hides)."""
    region = Region(0, 0, widget.outer_size.width, widget.outer_size.height)
    return [strip.text.rstrip() for strip in widget.render_lines(region)]


async def open_at(pilot: Any, steps: int) -> TrainScreen:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for _ in range(steps):
        await press(pilot, "n")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, TrainScreen) and screen.frame is not None
    return screen


async def test_order_1_never_shows_the_form_nor_the_login_link(
    base_db: Path, tmp_path: Path
) -> None:
    async with app_for(base_db, tmp_path, "most-ideal").run_test(size=(100, 30)) as pilot:
        screen = await open_at(pilot, 1)
        messages = widget_lines(screen.query_one("#widget-messages"))
        foot = widget_lines(screen.query_one("#widget-foot"))
        assert messages[0] == "Retalé" and messages[1].startswith("Hi Julie, welcome back to")
        assert not any("/demo/login" in line for line in messages)
        assert not any(WIDGET_WORDS["form_intro"][:12] in line for line in foot)
        assert any(WIDGET_WORDS["compose"] in line for line in foot)
        assert str(screen.query_one("#customer-side").border_subtitle).endswith("verified (token)")


async def test_the_pane_shows_links_whole_and_the_widgets_form(
    base_db: Path, tmp_path: Path
) -> None:
    async with app_for(base_db, tmp_path, "standard").run_test(size=(100, 30)) as pilot:
        screen = await open_at(pilot, 1)
        messages = widget_lines(screen.query_one("#widget-messages"))
        assert any(line.startswith("http://127.0.0.1:8080/demo/login") for line in messages)
        assert any(line.startswith("http://127.0.0.1:8080/demo/signup.") for line in messages)
        foot = widget_lines(screen.query_one("#widget-foot"))
        assert [line for line in foot if "[" in line] == [
            " [Your name                         ]",
            " [Email                             ]",
            " [ Start chat ]",
        ]


async def test_the_pane_follows_the_newest_message(base_db: Path, tmp_path: Path) -> None:
    async with app_for(base_db, tmp_path, "undesired").run_test(size=(100, 30)) as pilot:
        screen = await open_at(pilot, 7)
        await pilot.pause()
        log = screen.query_one("#widget-log")
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
        last = [line for line in widget_lines(screen.query_one("#widget-messages")) if line]
        assert last[-1].endswith("ships today.")  # the agent's last reply closes the log


STAMP = re.compile(r"[A-Z][a-z]{2} \d{2} \d{2}:\d{2}")


@pytest.mark.parametrize("size", [(100, 30), (140, 40)])
async def test_the_banner_never_splits_a_date(
    base_db: Path, tmp_path: Path, size: tuple[int, int]
) -> None:
    async with app_for(base_db, tmp_path, "most-ideal").run_test(size=size) as pilot:
        screen = await open_at(pilot, 2)
        lines = widget_lines(screen.query_one("#train-banner"))
        whole = [STAMP.search(line) for line in lines]
        assert any(whole), lines  # "... until Nov 20 11:00: ..."
        assert len(STAMP.findall(" ".join(lines))) == sum(1 for found in whole if found)
        assert not any(line.rstrip().endswith(("Nov", "Nov 20")) for line in lines)


def test_banner_dates_stay_whole_at_every_width() -> None:
    words = "Verified via a signed identity token (JWT) until Nov 20 11:00: what they write now"
    for width in range(14, 90):
        kept = _dates_whole(words, width)
        lines = [line.plain for part in kept.split("\n") for line in wrap(Text(part), width)]
        assert sum(len(STAMP.findall(line)) for line in lines) == 1, (width, lines)
        assert " ".join(lines) == words and all(len(line) <= width for line in lines)
        assert kept.count("\n") <= 1  # a break only where a date would be split
    assert _dates_whole(words, 200) == words


async def test_event_labels_show_whole(base_db: Path, tmp_path: Path) -> None:
    """No timeline event label is cut to fit its column ("identity clea…")."""
    assert all(len(f"· {label}") <= SENDER_WIDTH for label in EVENT_LABELS.values())
    async with app_for(base_db, tmp_path, "logout-switch").run_test(size=(100, 30)) as pilot:
        screen = await open_at(pilot, 4)
        lines = screen.query_one("#train-timeline", TimelineView).lines_text()
        assert any(f" · {EVENT_LABELS['identity_cleared']} " in line for line in lines)
        assert not any("…" in line[:32] for line in lines)


async def test_trainer_keys_are_remapped_from_the_key_config_file(
    base_db: Path, tmp_path: Path
) -> None:
    config = tmp_path / "keys.toml"
    config.write_text('[keys]\n"train.next" = "x"\n"train.restart" = "f5"\n', encoding="utf-8")
    app = make_train_app(order="undesired", workdir=tmp_path, base_db=base_db, config_path=config)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TrainScreen) and screen.frame is not None
        await press(pilot, "n")
        assert screen.frame.position == 0  # `n` no longer steps
        await press(pilot, "x", "x")
        assert screen.frame.position == 2
        await press(pilot, "r")
        assert screen.frame.position == 2
        await press(pilot, "f5")
        assert screen.frame.position == 0


async def test_picker_lists_the_five_orders_and_opens_one(base_db: Path, tmp_path: Path) -> None:
    app = app_for(base_db, tmp_path, None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, OrderPicker)
        options = app.screen.query_one("#orders")
        assert [options.get_option_at_index(i).id for i in range(5)] == list(ORDERS)  # type: ignore[attr-defined]
        await press(pilot, "down", "down", "enter")
        assert isinstance(app.screen, TrainScreen) and app.screen.scenario.name == "standard"
        await press(pilot, "escape")
        assert isinstance(app.screen, OrderPicker)


@pytest.mark.parametrize("order", ORDERS)
def test_final_frame_snapshot(snap_compare: Any, base_db: Path, tmp_path: Path, order: str) -> None:
    async def to_the_end(pilot: Any) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        screen = pilot.app.screen
        while not screen.frame.done:  # one `n` more would open the next order
            await pilot.press("n")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()

    assert snap_compare(
        app_for(base_db, tmp_path, order), terminal_size=SIZE, run_before=to_the_end
    )
