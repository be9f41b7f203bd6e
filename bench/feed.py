"""Feed benchmark (issue 6).

The simulated feed at 6,000 customers a minute (100/s) for 60 s in real time, in its own
process, while an agent console (Textual `run_test`, headless) is open on the same database
file, tailing its change feed and paging through the All queue.

Figures: achieved customer rate against the target (ratio), how late the feed ran at worst,
and the console's page-down latency under the load against the same console on the idle desk
measured first in the same run (ratio). Target: achieved/target >= 0.98.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.demo_desk import build_demo  # noqa: E402

RATE = 6000
DURATION_S = 60
IDLE_PRESSES = 60
SIZE = (120, 40)


async def page_down_latencies(
    db: Path, *, until: Callable[[], bool] | None, presses: int
) -> list[float]:
    """Seconds per page-down (or page-up at the bottom) in the console's All view."""
    from tui.app import make_app

    app = make_app(db, agent="alice")
    times: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for _ in range(6):  # Mine, Inbox Chat, Returns, Billing, All
            bar = str(app.screen.query_one("#filter-bar").render())
            if "View: All" in bar:
                break
            await pilot.press("v")
            await pilot.pause()
        direction = "pagedown"
        count = 0
        while until() if until is not None else count < presses:
            started = time.perf_counter()
            await pilot.press(direction)
            await pilot.pause()
            times.append(time.perf_counter() - started)
            count += 1
            if count % 20 == 0:
                direction = "pageup" if direction == "pagedown" else "pagedown"
            await asyncio.sleep(0.05)  # an agent paging, not a key held down
    app.desk.close()
    return times


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(len(ordered) * 0.95) - 1] if ordered else 0.0
    return (
        f"median {statistics.median(values) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"
        f" ({len(values)} presses)"
    )


def main() -> int:
    print(f"nproc: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="gladdesk-bench-feed-") as folder:
        db = build_demo(Path(folder) / "demo.db")
        idle = asyncio.run(page_down_latencies(db, until=None, presses=IDLE_PRESSES))
        feed = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tui",
                "--db",
                str(db),
                "feed",
                "--rate",
                str(RATE),
                "--duration",
                str(DURATION_S),
                "--seed",
                "1",
                "--pace",
                "real",
                "--json",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        loaded = asyncio.run(page_down_latencies(db, until=lambda: feed.poll() is None, presses=0))
        out, _ = feed.communicate()
        if feed.returncode not in (0, 1):
            print(f"feed failed with exit code {feed.returncode}")
            return 1
        stats = json.loads(out)
    achieved = stats["customers"] / stats["wall_s"] * 60
    print(
        f"feed: target {RATE}/min for {DURATION_S} s; {stats['customers']} customers in"
        f" {stats['wall_s']:.1f} s wall -> {achieved:.0f}/min"
    )
    print(
        f"  ratio achieved/target: {achieved / RATE:.3f}; worst lateness {stats['max_lag_s']:.3f} s;"
        f" {stats['steps'] / stats['wall_s']:.0f} steps/s; {stats['messages']} messages;"
        f" errors {stats['errors']}"
    )
    print(f"console page-down, idle desk (baseline): {ms(idle)}")
    print(f"console page-down, under the feed:       {ms(loaded)}")
    print(
        f"  ratio under load/idle (median): {statistics.median(loaded) / statistics.median(idle):.2f}"
    )
    return 0 if achieved / RATE >= 0.98 and stats["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
