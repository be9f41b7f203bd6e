"""Tails the desk's change feed for the server's SSE streams.

One poller per process reads new `events` rows (every `poll_s`, or at once when a request of
this server just wrote) and wakes only the streams an event concerns: its widget session or
the conversation that session is in. Other processes (agent consoles, feeds) write to the same
file; polling is how their changes reach the widgets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.concurrency import run_in_threadpool

from core.store import Desk
from core.store.directory import agents_available

log = logging.getLogger("gladdesk.web")

#: How often the availability of agents is re-read even when no event says it changed.
AVAILABILITY_EVERY_S = 2.0


class Subscription:
    """One SSE stream's interest: its session and the conversation it is in."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.conversation_id: int | None = None
        self.wake = asyncio.Event()


class EventHub:
    def __init__(self, desk: Desk, *, poll_s: float = 0.1) -> None:
        self.desk = desk
        self.poll_s = poll_s
        self.seen = 0
        self.available: bool | None = None
        self._subscribers: set[Subscription] = set()
        self._poke: asyncio.Event | None = None

    def subscribe(self, session_id: str) -> Subscription:
        subscription = Subscription(session_id)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def poke(self) -> None:
        """Poll now: this process just wrote something a stream may want."""
        if self._poke is not None:
            self._poke.set()

    def _agents_available(self) -> bool:
        return agents_available(self.desk)

    async def run(self) -> None:
        """Poll until cancelled. Errors are logged and retried: a stream must not die of one."""
        self._poke = asyncio.Event()
        self.seen = await run_in_threadpool(self.desk.last_event_id)
        self.available = await run_in_threadpool(self._agents_available)
        loop = asyncio.get_running_loop()
        next_availability = loop.time() + AVAILABILITY_EVERY_S
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self.poll_s)
            self._poke.clear()
            try:
                events = await run_in_threadpool(self.desk.events_after, self.seen, 2000)
                agent_change = any(e.kind.startswith("agent") for e in events)
                if agent_change or loop.time() >= next_availability:
                    next_availability = loop.time() + AVAILABILITY_EVERY_S
                    available = await run_in_threadpool(self._agents_available)
                    if available != self.available:
                        self.available = available
                        for subscription in self._subscribers:
                            subscription.wake.set()
            except Exception:  # noqa: BLE001 - keep polling; the log says what broke
                log.exception("change feed poll failed")
                await asyncio.sleep(1.0)
                continue
            if not events:
                continue
            self.seen = events[-1].id
            sessions = {e.session_id for e in events if e.session_id is not None}
            conversations = {e.conversation_id for e in events if e.conversation_id is not None}
            for subscription in self._subscribers:
                if (
                    subscription.session_id in sessions
                    or subscription.conversation_id in conversations
                ):
                    subscription.wake.set()
