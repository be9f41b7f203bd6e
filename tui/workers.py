"""Worker plumbing shared by screens and widgets.

Worker errors reach the agent: `Worker.StateChanged` does not bubble, so every node that
starts workers forwards it to the app's one reporter (`DeskApp.report_worker`).

Live updates read in the background through `LatestRead`: one read at a time, the newest
wins, so a burst of changes costs one read and one repaint, and a slow read never races a
newer one.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.worker import Worker


class ReportsWorkerErrors:
    """Mixin for screens and widgets that run `@work` methods."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report = getattr(self.app, "report_worker", None)  # type: ignore[attr-defined]
        if report is not None:
            report(event)


@dataclass(frozen=True, slots=True)
class ReadTicket:
    """What a background read was started for: the changes up to `seq`, under `epoch`."""

    seq: int
    epoch: int


class LatestRead:
    """Sequence numbers for background reads of something that keeps changing.

    Each `change()` is a notice that what is shown may be out of date. Only one read runs at
    a time: a notice during a read is covered by one more read when it ends, however many
    arrive. `invalidate()` (the agent picked another queue) makes the running read's result
    stale: `finish()` then says to drop it. UI thread only.
    """

    __slots__ = ("_epoch", "_running", "_shown", "_wanted", "reads", "shown_reads")

    def __init__(self) -> None:
        self._wanted = 0
        self._shown = 0
        self._epoch = 0
        self._running: ReadTicket | None = None
        #: Reads started, and reads whose result was shown (for tests and bench/feed.py).
        self.reads = 0
        self.shown_reads = 0

    @property
    def running(self) -> bool:
        return self._running is not None

    def change(self) -> bool:
        """Note a change; True when a read should start now (call `begin()`)."""
        self._wanted += 1
        return self._running is None

    def invalidate(self) -> bool:
        """What is shown is wanted no more: a running read's result will be dropped.

        True when a read should start now."""
        self._epoch += 1
        return self.change()

    def begin(self) -> ReadTicket:
        """A read starts: it covers every change noted so far."""
        assert self._running is None, "one read at a time"
        self._running = ReadTicket(self._wanted, self._epoch)
        self.reads += 1
        return self._running

    def finish(self, ticket: ReadTicket, *, ok: bool = True) -> tuple[bool, bool]:
        """A read ended (`ok` False: it failed): (show its result, start another read)."""
        if ticket != self._running:
            return False, False  # not the read this tracks: ignore it
        self._running = None
        show = ok and ticket.epoch == self._epoch and ticket.seq > self._shown
        if show:
            self._shown = ticket.seq
            self.shown_reads += 1
        # After a failure, only a newer change starts another read (no retry loop).
        return show, self._wanted > ticket.seq
