"""`gladdesk feed --scenario` runs are stories of their own: the five orders played one after
another on one desk give five stories, in order, in the desk's own time."""

from __future__ import annotations

import json
from datetime import datetime

from click.testing import CliRunner

from cli.main import main
from core.clock import CLOCK_OFFSET_SETTING, ManualClock, SystemClock, parse_iso
from core.engine import Engine
from core.store import Desk
from sim.customers import play_script
from sim.pacing import VirtualTimer, customers_clock
from sim.scenarios import ORDERS, find_scenario
from tests.web_helpers import DeskAt

BUILT_AT = parse_iso("2026-11-20T09:00:00Z")
JULIE = "julie.romero@example.com"


def at_ms(item: dict) -> int:
    return int(datetime.fromisoformat(item["at"].replace("Z", "+00:00")).timestamp() * 1000)


def set_desk_time(db: DeskAt, now_ms: int) -> None:
    """Give the desk its own time, as `gladdesk demo` does for its working copy, without the
    change-feed row `Desk.record_clock_offset` adds (it would be the desk's newest row, and
    the next run would start after it)."""
    with Desk.open(db, create=False) as desk, desk.transaction() as tx:
        tx.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (CLOCK_OFFSET_SETTING, str(SystemClock().now_ms() - now_ms)),
        )


def export(db: DeskAt) -> dict[int, dict]:
    result = CliRunner().invoke(main, ["--db", str(db), "export", "conversations"])
    assert result.exit_code == 0, result.output
    return {c["id"]: c for c in json.loads(result.stdout)}


def test_the_five_orders_in_a_row_are_five_stories_in_the_desks_time(demo_db: DeskAt) -> None:
    desk_now = BUILT_AT + 3600_000  # the desk lives an hour after it was built
    stories: list[list[dict]] = []
    outputs = []
    for name in ORDERS:
        set_desk_time(demo_db, desk_now)
        before = export(demo_db)
        result = CliRunner().invoke(
            main, ["--db", str(demo_db), "feed", "--scenario", name, "--pace", "fast"]
        )
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
        after = export(demo_db)
        stories.append([c for i, c in after.items() if i not in before])
        desk_now += 10 * 60_000  # the trainer talks for ten minutes between two orders
    final = export(demo_db)

    # One new conversation per story (two in the fifth: A's and B's), none shared.
    assert [len(story) for story in stories] == [1, 1, 1, 1, 2]
    paths = [[c["identity"]["trust_path"] for c in story] for story in stories]
    assert paths == [
        ["before_routing"],
        ["before_routing"],
        [None],
        ["after_routing"],
        [None, "different_identity"],
    ]
    trusted = [
        [[m["trusted"] for m in c["items"] if m["sender"] == "customer"] for c in s]
        for s in stories
    ]
    assert trusted == [
        [[True, True]],
        [[True, True]],
        [[False, False]],
        [[False, True]],
        [[False], [True]],
    ]
    # Each story played in the desk's own time, ending at its "now" (no wall-clock dates,
    # nothing ahead of the desk; seconds allowed for the test's own run time), in order:
    # every story after the one before it.
    previous_end = BUILT_AT
    for number, story in enumerate(stories):
        start_of_run = BUILT_AT + 3600_000 + number * 10 * 60_000
        times = [at_ms(item) for c in story for item in c["items"]]
        assert previous_end < min(times) and max(times) <= start_of_run + 5_000
        for conversation in story:
            stamps = [at_ms(item) for item in final[conversation["id"]]["items"]]
            assert stamps == sorted(stamps), f"#{conversation['id']} goes back in time"
        previous_end = max(times)
    made = [final[c["id"]] for story in stories for c in story]
    every_event = [i["event"] for c in made for i in c["items"]]
    assert "trust_expired" not in every_event and "other_chat_open" not in every_event
    # A chat left open by one order is closed when the next one starts, and said so.
    for number, story in enumerate(stories[:-1]):
        for conversation in story:
            closed = final[conversation["id"]]
            assert closed["status"] == "CLOSED" and closed["items"][-1]["event"] == "closed"
            assert f"closed #{conversation['id']} (Julie Romero)" in outputs[number + 1]
    assert max(at_ms(i) for c in made for i in c["items"]) <= desk_now - 5 * 60_000


def test_a_run_closes_its_widget_session_at_the_end(demo_db: DeskAt) -> None:
    """The customer leaves: a session still TRUSTED as Julie could otherwise read the next
    story's trusted chat with her."""
    with Desk.open(demo_db, clock=ManualClock(BUILT_AT + 3600_000), create=False) as desk:
        engine = Engine(desk)
        clock = desk.clock
        assert isinstance(clock, ManualClock)
        first, _ = play_script(engine, find_scenario("most-ideal"), VirtualTimer(clock))
        assert first.session_id is not None and engine.session(first.session_id).ended
        second, _ = play_script(engine, find_scenario("ideal"), VirtualTimer(clock))
        assert second.conversations and second.conversations != first.conversations
        view = engine.conversation(second.conversations[0])
        assert view.trust_path == "before_routing"


def test_customers_clock_follows_the_desk_and_never_goes_back(demo_db: DeskAt) -> None:
    desk_now = BUILT_AT + 86_400_000
    set_desk_time(demo_db, desk_now)
    with Desk.open(demo_db, create=False) as desk:
        assert abs(desk.clock.now_ms() - desk_now) < 5_000
        fast = customers_clock(desk, "fast", length_s=120)
        assert abs(fast.now_ms() - (desk_now - 120_000)) < 5_000  # ends at the desk's "now"
        real = customers_clock(desk, "real")
        assert abs(real.now_ms() - desk_now) < 5_000
    # A desk whose newest row lies ahead of its clock (an earlier fast run): start after it.
    set_desk_time(demo_db, BUILT_AT - 3600_000)
    with Desk.open(demo_db, create=False) as desk:
        latest = desk.latest_at()
        assert latest is not None and latest >= BUILT_AT
        assert customers_clock(desk, "fast", length_s=60).now_ms() > latest
        assert customers_clock(desk, "real").now_ms() > latest
