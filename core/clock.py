"""Time for the desk, as integer milliseconds since the epoch (UTC).

Every core function takes its time from a clock so tests and fixtures can freeze or step it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


#: The desk setting holding its clock offset (ms behind the wall clock), when it has one.
CLOCK_OFFSET_SETTING = "clock.offset_ms"


class OffsetClock:
    """The wall clock shifted back by a fixed amount: a desk that lives in its own time.

    The demo runs on one, so its fixture conversations, built as of a fixed instant, keep
    their age ("waited 5 minutes") however long after that instant the demo is shown. The
    offset is recorded in the desk (`CLOCK_OFFSET_SETTING`), and every process that opens it
    without a clock of its own (`serve`, `console`, `feed`, `report`, ...) runs on it, so
    they agree on what "now" is: a trust window one of them opened, the others keep.
    """

    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 - self.offset_ms


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start_ms: int = 1_767_225_600_000) -> None:  # 2026-01-01T00:00:00Z
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += int(seconds * 1000)

    def set(self, ms: int) -> None:
        self._now = ms


def iso(ms: int | None) -> str | None:
    """ISO 8601 UTC with millisecond precision, `Z` suffix."""
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_iso(text: str) -> int:
    """Parse an ISO 8601 time (naive means UTC) into epoch milliseconds."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
