"""The limiters' cost per call, with their maps empty and full (core/web/limits.py).

Run: `.venv/bin/python bench/limits.py`. Prints p50/p99 per call; exits 0.

- `FailureLimiter.fail` from new addresses: on an empty map, and on one holding its
  100,000 keys (each call then pushes the least recent key out). Before the LRU map a full
  map cost ~66 ms per failure (a walk over every key); the target is p99 <= 50 us both ways
  and full / empty <= 3x.
- `Budgets.take` from new addresses, the same two ways.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.budgets import BUDGET_DEFAULTS, MAX_SETTING  # noqa: E402
from core.web.limits import MAX_KEYS, Budgets, FailureLimiter  # noqa: E402

CALLS = 20_000
#: The defaults, but app budgets no bench run can spend (both buckets are still counted).
APP = {
    "app_id": "shop",
    **BUDGET_DEFAULTS,
    **{name: MAX_SETTING for name in BUDGET_DEFAULTS if name.startswith("app_")},
}


def timings(call: Callable[[int], None], first: int) -> list[float]:
    """Seconds per call, for CALLS calls numbered from `first`."""
    out = []
    for n in range(first, first + CALLS):
        started = time.perf_counter()
        call(n)
        out.append(time.perf_counter() - started)
    return out


def report(name: str, empty: list[float], full: list[float]) -> None:
    def p(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1e6

    ratio = p(full, 99) / p(empty, 99)
    ok = p(full, 99) <= 50 and p(empty, 99) <= 50 and ratio <= 3
    print(
        f"{name}: empty p50 {p(empty, 50):.1f} us p99 {p(empty, 99):.1f} us;"
        f" full ({MAX_KEYS:,} keys) p50 {p(full, 50):.1f} us p99 {p(full, 99):.1f} us;"
        f" full/empty p99 {ratio:.2f}x  [{'ok' if ok else 'MISSED'}: p99 <= 50 us, <= 3x]"
    )


def main() -> None:
    limiter = FailureLimiter(30, 60.0)
    empty = timings(lambda n: limiter.fail(f"addr:{n}"), 0)
    for n in range(MAX_KEYS):
        limiter.fail(f"addr:fill-{n}")
    full = timings(lambda n: limiter.fail(f"addr:{n}"), 10**6)
    report("FailureLimiter.fail", empty, full)

    budgets = Budgets()
    empty = timings(lambda n: budgets.take("sessions", APP, f"10.{n}"), 0)
    for n in range(MAX_KEYS):
        budgets.take("identifications", APP, f"fill-{n}")
    full = timings(lambda n: budgets.take("conversations", APP, f"10.{n}"), 10**6)
    report("Budgets.take", empty, full)


if __name__ == "__main__":
    main()
