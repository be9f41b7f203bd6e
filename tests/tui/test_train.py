"""Trainer mode: the walkthrough logic, Pilot tests of next/back/restart, final-frame snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.errors import NotFound
from sim.demo_desk import build_demo
from sim.rehearsal import Rehearsal
from sim.scenarios import ORDERS, find_scenario, load_scenario
from tui.screens.train import OrderPicker, TrainScreen, widget_text
from tui.train import TRAIN_START_MS, TrainApp, check_order, make_train_app

SIZE = (130, 40)


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("train-base") / "demo.db")


def rehearsal(base_db: Path, workdir: Path, name: str) -> Rehearsal:
    return Rehearsal(base_db, workdir, find_scenario(name), start_ms=TRAIN_START_MS)


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
    frame = walk.frame()
    while not frame.done:
        frame = walk.forward()
    assert frame.conversation is not None and frame.conversation.profile.name == "Omar Nguyen"
    [earlier] = frame.other_chats
    assert earlier.customer == "Julie Romero" and earlier.trusted == 0
    assert [c.assignee for c in frame.summary] == ["emil", "alice"]
    walk.close()


def test_hostile_text_is_shown_literally_in_the_widget(base_db: Path, tmp_path: Path) -> None:
    script = tmp_path / "hostile.toml"
    script.write_text(
        '[customers.x]\nname = "[green]Eve[/green]"\nemail = "eve@example.net"\n'
        '[[steps]]\ndo = "open"\n[[steps]]\ndo = "onboarding"\nas = "x"\n'
        '[[steps]]\ndo = "say"\ntext = "[bold green]\\u2714[/] [red]red[/]\\u202eevil"\n'
    )
    walk = Rehearsal(base_db, tmp_path, load_scenario(script), start_ms=TRAIN_START_MS)
    for _ in range(3):
        frame = walk.forward()
    text = widget_text(frame)
    assert "[bold green]" in text.plain and "[green]Eve[/green]" in text.plain
    assert "\u2714" not in text.plain and "\x1b" not in text.plain and "\u202e" not in text.plain
    assert not any("green" in str(span.style) for span in text.spans)
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
        for _ in range(10):  # past the end stays at the end
            await press(pilot, "n")
        assert screen.frame.done and screen.frame.position == 7
        narration = str(screen.query_one("#narration").render())
        assert "Summary" in narration and "1 of 2 messages trusted" in narration


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
        for _ in range(12):
            await pilot.press("n")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        screen = pilot.app.screen
        assert screen.frame is not None and screen.frame.done

    assert snap_compare(
        app_for(base_db, tmp_path, order), terminal_size=SIZE, run_before=to_the_end
    )
