"""Tails the desk's change feed for the server's SSE streams.

One tail per process reads new `events` rows and wakes only the streams an event concerns:
its widget session or the conversation that session is in. It reads when a request of this
server just wrote (`poke`), and when other processes (agent consoles, feeds) may have:

- on SQLite, every `poll_s`: polling is how their changes reach the widgets;
- on a desk that pushes its changes (PostgreSQL's LISTEN/NOTIFY: `Desk.pushes_changes`), when
  the desk says something was committed (`Desk.on_change`), and otherwise only on a slow
  safety tick (`PUSHED_SAFETY_S`): an idle server reads nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from functools import partial

from starlette.concurrency import run_in_threadpool

from core.errors import StoreUnavailable
from core.store import Desk, Event
from core.store.directory import agents_available
from core.web.limits import FixedBudget

log = logging.getLogger("gladdesk.web")

#: How often the availability of agents is re-read even when no event says it changed.
AVAILABILITY_EVERY_S = 2.0
#: On a desk that pushes its changes: how often the feed and the availability of agents are
#: read anyway (a notification lost with its connection, a change made without an event).
PUSHED_SAFETY_S = 5.0
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
        #: The last read failed because the desk's database could not be reached.
        self.unreachable = False
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

    def _wait_s(self) -> tuple[float, float]:
        """(longest wait between two reads of the feed, between two of availability)."""
        if self.desk.pushes_changes:
            return PUSHED_SAFETY_S, PUSHED_SAFETY_S
        return self.poll_s, AVAILABILITY_EVERY_S

    async def run(self) -> None:
        """Tail until cancelled. Errors are logged and retried: a stream must not die of one."""
        self._poke = poke = asyncio.Event()
        loop = asyncio.get_running_loop()
        if self.desk.pushes_changes:
            # From the desk's listener thread: wake this loop's tail (a closed loop is ignored).
            self.desk.on_change(partial(_wake_from_thread, loop, poke))
        self.seen = await run_in_threadpool(self.desk.last_event_id)
        self.available = await run_in_threadpool(self._agents_available)
        wait_s, availability_s = self._wait_s()
        next_availability = loop.time() + availability_s
        while True:
            # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` can swallow the
            # task's own cancellation when its wait ends at the same moment, and a tail that
            # ignores its cancel keeps the server from shutting down.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await poke.wait()
            poke.clear()
            try:
                events = await run_in_threadpool(self.desk.events_after, self.seen, 2000)
                agent_change = any(e.kind.startswith("agent") for e in events)
                if agent_change or loop.time() >= next_availability:
                    next_availability = loop.time() + availability_s
                    available = await run_in_threadpool(self._agents_available)
                    if available != self.available:
                        self.available = available
                        for subscription in self._subscribers:
                            subscription.wake.set()
            except StoreUnavailable as exc:
                if not self.unreachable:
                    log.warning("change feed: %s; retrying every second", exc)
                self.unreachable = True
                await asyncio.sleep(1.0)
                poke.set()  # read again soon: what woke us may still be unread
                continue
            except Exception:  # noqa: BLE001 - keep tailing; the log says what broke
                log.exception("change feed read failed")
                await asyncio.sleep(1.0)
                poke.set()
                continue
            if self.unreachable:
                log.warning("change feed: the desk's database answers again")
                self.unreachable = False
            if not events:
                continue
            if len(events) == 2000:
                poke.set()  # a longer backlog: the rest on the next round, without waiting
            self._dispatch(events)

    def _dispatch(self, events: list[Event]) -> None:
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


def _wake_from_thread(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed: the server is shutting down
        loop.call_soon_threadsafe(event.set)
