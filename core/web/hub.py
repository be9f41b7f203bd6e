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
from collections import Counter
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from core.store import Desk, Event
from core.store.directory import agents_available
from core.web.limits import FixedBudget

log = logging.getLogger("gladdesk.web")

#: How often the availability of agents is re-read even when no event says it changed.
AVAILABILITY_EVERY_S = 2.0
#: Open event streams one widget session may hold (a page open in a few tabs; a reconnecting
#: `EventSource` closes its old stream first) and one client address may hold (customers
#: behind one NAT). Beyond them a new stream is refused with 429 (docs/widget-api.md).
MAX_STREAMS_PER_SESSION = 4
MAX_STREAMS_PER_ADDRESS = 64
#: Streams one widget session and one client address may open a minute, all at once, then
#: one every 60/N seconds. A page reconnects every few seconds at worst (`retry:` and
#: `Retry-After`); a loop that opens and drops streams to replay the feed is slowed to that.
#: What a stream refused for a cap is told to wait before trying again (seconds).
STREAM_RETRY_AFTER_S = 5
STREAM_OPENS_PER_SESSION_PER_MIN = 30
STREAM_OPENS_PER_ADDRESS_PER_MIN = 300


class TooManyStreams(Exception):
    """A new stream would go over a cap or a budget: `scope` says whose (`session` or
    `address`), `budget` whether it was the budget of opens (else a cap of open streams),
    `wait_s` how long until one would be let through, `retry_after_s` the same in whole
    seconds; `reason` is the message without the wait."""

    def __init__(self, reason: str, scope: str, wait_s: float, *, budget: bool) -> None:
        self.retry_after_s = max(1, int(wait_s + 0.999))
        super().__init__(f"{reason}; retry in {self.retry_after_s} s")
        self.reason = reason
        self.scope = scope
        self.wait_s = wait_s
        self.budget = budget


class Subscription:
    """One SSE stream's interest: its session and the conversation it is in, or (an agent's
    stream, `every_event`) any change at all: it filters the feed itself."""

    def __init__(self, session_id: str, address: str, *, every_event: bool = False) -> None:
        self.session_id = session_id
        self.address = address
        self.every_event = every_event
        self.conversation_id: int | None = None
        self.wake = asyncio.Event()


class EventHub:
    def __init__(
        self,
        desk: Desk,
        *,
        poll_s: float = 0.1,
        per_session: int = MAX_STREAMS_PER_SESSION,
        per_address: int = MAX_STREAMS_PER_ADDRESS,
        opens_per_session_per_min: int = STREAM_OPENS_PER_SESSION_PER_MIN,
        opens_per_address_per_min: int = STREAM_OPENS_PER_ADDRESS_PER_MIN,
    ) -> None:
        self.desk = desk
        self.poll_s = poll_s
        self.per_session = per_session
        self.per_address = per_address
        self.seen = 0
        self.available: bool | None = None
        self._subscribers: set[Subscription] = set()
        self._by_session: Counter[str] = Counter()
        self._by_address: Counter[str] = Counter()
        self.session_opens = FixedBudget(opens_per_session_per_min)
        self.address_opens = FixedBudget(opens_per_address_per_min)
        self._poke: asyncio.Event | None = None
        #: Called on the event loop with each new batch of change-feed rows (the server's
        #: caches of the desk's configuration follow it).
        self.listeners: list[Callable[[list[Event]], object]] = []

    def subscribe(
        self, session_id: str, address: str, *, every_event: bool = False
    ) -> Subscription:
        """Register a stream, or raise `TooManyStreams` when its session or address is at its
        cap of open streams or has opened its budget of them this minute. A refused open
        spends nothing. Called on the event loop only, so check and count are one step.
        An agent's stream counts under `agent:<id>` as its session."""
        for scope, open_now, cap in (
            ("session", self._by_session[session_id], self.per_session),
            ("address", self._by_address[address], self.per_address),
        ):
            if open_now >= cap:
                raise TooManyStreams(
                    f"too many open event streams for this {scope} ({cap} at most); close one",
                    scope,
                    STREAM_RETRY_AFTER_S,
                    budget=False,
                )
        for scope, budget, key in (
            ("session", self.session_opens, session_id),
            ("address", self.address_opens, address),
        ):
            wait = budget.wait(key)
            if wait > 0:
                raise TooManyStreams(
                    f"too many event streams opened by this {scope}"
                    f" ({int(budget.capacity)} a minute at most)",
                    scope,
                    wait,
                    budget=True,
                )
        self.session_opens.spend(session_id)
        self.address_opens.spend(address)
        subscription = Subscription(session_id, address, every_event=every_event)
        self._subscribers.add(subscription)
        self._by_session[session_id] += 1
        self._by_address[address] += 1
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription not in self._subscribers:
            return
        self._subscribers.discard(subscription)
        for counts, key in (
            (self._by_session, subscription.session_id),
            (self._by_address, subscription.address),
        ):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]  # the maps hold only keys with open streams

    @property
    def streams(self) -> int:
        return len(self._subscribers)

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
            # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` can swallow the
            # task's own cancellation when its wait ends at the same moment, and a poller that
            # ignores its cancel keeps the server from shutting down.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._poke.wait()
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
            for listener in self.listeners:
                try:
                    listener(events)
                except Exception:  # noqa: BLE001 - streams go on; the log says what broke
                    log.exception("change feed listener failed")
            sessions = {e.session_id for e in events if e.session_id is not None}
            conversations = {e.conversation_id for e in events if e.conversation_id is not None}
            for subscription in self._subscribers:
                if (
                    subscription.every_event
                    or subscription.session_id in sessions
                    or subscription.conversation_id in conversations
                ):
                    subscription.wake.set()
