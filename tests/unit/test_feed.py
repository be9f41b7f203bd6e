"""The random feed: deterministic for a seed, hostile options refused, the console controller."""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from core.clock import ManualClock, parse_iso
from core.engine import Engine
from core.errors import DeskError
from core.store import Desk
from sim.casting import Casting
from sim.customers import CustomerMix, check_rate
from sim.demo_desk import build_demo
from sim.pacing import VirtualTimer
from sim.scenarios import find_scenario, load_scenarios
from sim.simulator import CustomerSimulator
from tests.helpers import file_digest

START = parse_iso("2026-11-20T09:00:00Z")


@pytest.fixture(scope="module")
def built_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("built") / "demo.db")


def fresh_copy(built: Path, folder: Path, name: str = "demo.db") -> Path:
    target = folder / name
    shutil.copy(built, target)
    shutil.copy(f"{built}.keys", f"{target}.keys")
    return target


@pytest.fixture
def demo_db(built_demo: Path, tmp_path: Path) -> Path:
    return fresh_copy(built_demo, tmp_path)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def export_without_times(db: Path) -> list[dict]:
    code, out, err = cli("--db", str(db), "export", "conversations")
    assert code == 0, err
    data = json.loads(out)
    for conversation in data:
        for item in conversation["items"]:
            item.pop("at")
    return data


def run_feed(db: Path, **options: Any) -> Any:
    clock = ManualClock(START)
    with Desk.open(db, clock=clock) as desk:
        feed = CustomerMix(Engine(desk), **{"rate_per_min": 120, "duration_s": 30, **options})
        return feed.run(VirtualTimer(clock))


def test_same_seed_twice_gives_identical_exports(built_demo: Path, tmp_path: Path) -> None:
    first = fresh_copy(built_demo, tmp_path, "first.db")
    second = fresh_copy(built_demo, tmp_path, "second.db")
    summaries = []
    for db in (first, second):
        code, out, err = cli(
            "--db", str(db), "feed", "--rate", "600", "--duration", "60", "--seed", "1", "--json"
        )
        assert code == 0, out + err
        summaries.append(json.loads(out))
    assert summaries[0] == summaries[1]
    assert 550 <= summaries[0]["customers"] <= 650
    assert summaries[0]["errors"] == 0 and summaries[0]["mismatches"] == []
    one, two = export_without_times(first), export_without_times(second)
    assert len(one) > 384 + 100  # the feed added conversations to the demo's 384
    assert one == two


def test_another_seed_gives_another_mix(built_demo: Path, tmp_path: Path) -> None:
    one = run_feed(fresh_copy(built_demo, tmp_path, "a.db"), seed=1)
    two = run_feed(fresh_copy(built_demo, tmp_path, "b.db"), seed=2)
    assert one.by_scenario != two.by_scenario or one.steps != two.steps


def test_every_customer_plays_to_the_end_when_draining(built_demo: Path, tmp_path: Path) -> None:
    drained = run_feed(fresh_copy(built_demo, tmp_path, "a.db"), seed=3, drain=True)
    cut = run_feed(fresh_copy(built_demo, tmp_path, "b.db"), seed=3, drain=False)
    assert drained.customers == cut.customers > 0
    assert drained.in_flight == 0
    assert cut.in_flight > 0
    assert drained.messages > cut.messages


def test_skipped_agents_never_write(demo_db: Path) -> None:
    with Desk.open(demo_db) as desk:
        handles = frozenset(Engine(desk).agent_handles())
    stats = run_feed(demo_db, seed=4, drain=True, skip_agents=handles)
    assert stats.agent_steps == 0 and stats.skipped > 0
    with Desk.open(demo_db) as desk:
        data = Engine(desk).export_conversations()
    fed = [c for c in data if c["id"] > 384]
    assert fed
    assert not [i for c in fed for i in c["items"] if i["sender"] == "agent"]


def test_casting_uses_fixture_people_and_never_one_person_twice() -> None:
    casting = Casting()
    script = find_scenario("most-undesired")
    rng = random.Random(7)
    known = {p.contact for p in casting.by_email}
    for _ in range(200):
        cast = casting.cast(script, rng)
        a, b = cast.people["julie"], cast.people["omar"]
        assert a.contact != b.contact
        assert a.email and b.email
        assert cast.topic in casting.topics
    assert any(casting.cast(script, rng).people["julie"].contact in known for _ in range(20))


@pytest.mark.parametrize("rate", [0, -5, float("nan"), float("inf"), 1e9, True, "10"])
def test_hostile_rates_are_refused(rate: Any) -> None:
    with pytest.raises(DeskError, match="rate"):
        check_rate(rate)


@pytest.mark.parametrize(
    "args",
    [
        ["feed"],
        ["feed", "--rate", "60"],
        ["feed", "--scenario", "standard", "--rate", "60", "--duration", "5"],
        ["feed", "--scenario", "standard", "--duration", "5"],
        ["feed", "--rate", "abc", "--duration", "5"],
        ["feed", "--rate", "60", "--duration", "5", "--pace", "warp"],
    ],
)
def test_cli_usage_errors_exit_2_and_change_nothing(demo_db: Path, args: list[str]) -> None:
    digest = file_digest(demo_db)
    code, _, err = cli("--db", str(demo_db), *args)
    assert code == 2
    assert "Usage" in err or "Error" in err
    assert file_digest(demo_db) == digest


@pytest.mark.parametrize("args", [["--rate", "0"], ["--rate", "nan"], ["--duration", "-1"]])
def test_cli_bad_values_are_refused_and_change_nothing(demo_db: Path, args: list[str]) -> None:
    options = {"--rate": "60", "--duration": "5"}
    options[args[0]] = args[1]
    digest = file_digest(demo_db)
    code, _, err = cli("--db", str(demo_db), "feed", *[x for kv in options.items() for x in kv])
    assert code in (1, 2)
    assert "rate" in err or "duration" in err
    assert file_digest(demo_db) == digest


def test_cli_missing_database_gets_the_demo_desk_but_a_missing_folder_is_an_error(
    tmp_path: Path,
) -> None:
    fresh = tmp_path / "new.db"
    code, out, err = cli("feed", "--scenario", "standard", "--db", str(fresh))
    assert code == 0, err
    assert f"{fresh} did not exist: built the demo desk there" in err
    assert "scripts: standard 1" in out and fresh.is_file()
    missing = tmp_path / "no-such-folder" / "nope.db"
    code, _, err = cli("--db", str(missing), "feed", "--scenario", "standard")
    assert code == 1
    assert "no such desk database" in err and len(err.strip().splitlines()) == 1
    assert not missing.parent.exists()


def wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_controller_runs_pauses_and_stops(demo_db: Path) -> None:
    controller = CustomerSimulator(demo_db, rate_per_min=600, seed=5, speed=20)
    assert controller.status_line.startswith("feed ready · 0 customers")
    controller.start()
    try:
        wait_for(lambda: controller.stats.messages >= 1)
        assert "customers" in controller.status_line
        assert controller.toggle_pause() is True
        assert controller.status_line.startswith("feed paused")
        assert controller.toggle_pause() is False
        assert controller.status_line.startswith("feed running")
    finally:
        controller.stop()
    assert controller._thread is not None and not controller._thread.is_alive()
    assert controller.error is None
    with Desk.open(demo_db) as desk:
        assert Engine(desk).export_conversations()[-1]["id"] > 384


def test_controller_reports_a_missing_database_in_its_status_line(tmp_path: Path) -> None:
    controller = CustomerSimulator(tmp_path / "missing.db", rate_per_min=60)
    controller.start()
    assert controller.wait(10)
    assert controller.status_line.startswith("feed stopped:")
    assert "no such desk database" in controller.status_line
    controller.stop()
    assert not (tmp_path / "missing.db").exists()


def test_every_shipped_script_runs_in_the_mix_without_errors(demo_db: Path) -> None:
    scripts = list(load_scenarios().values())
    stats = run_feed(
        demo_db, seed=11, rate_per_min=600, duration_s=60, drain=True, scenarios=scripts
    )
    assert stats.errors == 0, stats.error_samples
    assert stats.mismatches == []
    assert set(stats.by_scenario) == {s.name for s in scripts if s.mix_weight > 0}
