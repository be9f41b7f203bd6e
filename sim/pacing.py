"""Time for simulated customers: schedule seconds (0 = the start of a run) mapped to time
passing for the desk.

Virtual (`VirtualTimer`: a `ManualClock` jumped to each event, so `--rate 600 --duration 60`
finishes in seconds and two runs give the same export) or real (`RealTimer`: sleeping until
each event is due, what a person watching the demo console sees).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from core.clock import ManualClock, OffsetClock, SystemClock
from core.errors import DeskError
from core.store import Desk

#: Beside a desk that lives in its own time (the demo's working copy): the wall clock's lead
#: over the desk's clock, in ms (see `tui.demo.demo_clock`).


class Timer(Protocol):
    """Maps schedule seconds (0 = the run's start) to time passing for the desk."""

    def wait_until(self, offset_s: float) -> bool:
        """Return when `offset_s` is due; False when the run was stopped meanwhile."""
        ...


class VirtualTimer:
    """Virtual time: jumps a ManualClock to each event; never sleeps."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.start_ms = clock.now_ms()

    def wait_until(self, offset_s: float) -> bool:
        self.clock.set(max(self.clock.now_ms(), self.start_ms + round(offset_s * 1000)))
        return True


class RealTimer:
    """Real time: sleeps until each event is due. Can be paused, resumed and stopped.

    `speed` plays the schedule faster than life (2.0: a 10-second wait takes 5).
    """

    def __init__(self, speed: float = 1.0) -> None:
        if not 0.01 <= speed <= 1000:
            raise DeskError("speed: expected 0.01 to 1000")
        self.speed = speed
        self._stopped = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._base = time.monotonic()
        self._paused_at: float | None = None
        #: How late (wall seconds) the most overdue event ran: the simulation falling behind.
        self.max_lag_s = 0.0

    def wait_until(self, offset_s: float) -> bool:
        while not self._stopped.is_set():
            if not self._running.is_set():
                self._running.wait(0.2)
                continue
            remaining = self._base + offset_s / self.speed - time.monotonic()
            if remaining <= 0:
                self.max_lag_s = max(self.max_lag_s, -remaining)
                return True
            self._stopped.wait(min(remaining, 0.2))
        return False

    def elapsed(self) -> float:
        return ((self._paused_at or time.monotonic()) - self._base) * self.speed

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        if self._running.is_set():
            self._paused_at = time.monotonic()
            self._running.clear()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._base += time.monotonic() - self._paused_at
            self._paused_at = None
        self._running.set()

    def stop(self) -> None:
        self._stopped.set()
        self._running.set()


def virtual_start_clock() -> ManualClock:
    """A virtual clock starting now (whole seconds), so new chats sort after existing data."""
    return ManualClock(SystemClock().now_ms() // 1000 * 1000)


def customers_clock(desk: Desk, pace: str, *, length_s: float = 0.0) -> ManualClock | OffsetClock:
    """Time for simulated customers joining `desk`, on the desk's own clock, never before the
    newest thing the desk holds: runs one after another tell their stories in order.

    `real`: the desk's time running on with the wall clock (moved past the desk's newest row
    if an earlier run left that ahead). `fast`: a virtual clock, dated so that a run of
    `length_s` virtual seconds ends at the desk's "now" rather than minutes or hours in its
    future, unless the desk's newest row is later than its start.
    """
    now = desk.clock.now_ms()  # the desk's own time (Desk.open reads it from the desk)
    latest = desk.latest_at()
    start = (now - round(length_s * 1000) if pace == "fast" else now) // 1000 * 1000
    if latest is not None:
        start = max(start, -(-(latest + 1) // 1000) * 1000)  # the next whole second
    if pace == "fast":
        return ManualClock(start)
    return OffsetClock(SystemClock().now_ms() - start)
