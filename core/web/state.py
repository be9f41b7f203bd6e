"""What one server process holds: the desk, the engine, the change-feed hub, the limiters and
the flood budgets."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from core.addresses import address_group
from core.engine import Engine
from core.errors import StoreUnavailable
from core.store import Desk, Event
from core.store.directory import app_origins
from core.web.hub import EventHub
from core.web.limits import Budgets, FailureLimiter, Refusals

#: A desk call run on the event loop that takes longer than this sends the next calls to the
#: thread pool for `THREADS_AFTER_SLOW_S` (the desk is contended: another process is writing).
INLINE_BUDGET_S = 0.02
THREADS_AFTER_SLOW_S = 5.0
#: Once the desk's database was found unreachable, how long desk calls fail at once (503)
#: before the next one tries it again: one request at a time waits on a dead server, not all.
UNREACHABLE_HOLD_S = 1.0
#: How long the set of allowed widget origins is cached, in seconds.
ORIGINS_TTL_S = 10.0
#: Remembered bearer tokens (`KnownToken`); what a token opens never changes.
MAX_CACHED_TOKENS = 50_000


@dataclass(frozen=True, slots=True)
class KnownToken:
    """What a widget bearer token opens (it never changes for a token)."""

    session_id: str
    app_id: str
    #: Started with an API user's credentials: not counted against the flood budgets.
    exempt: bool = False


@dataclass
class WebState:
    desk: Desk
    engine: Engine
    hub: EventHub
    #: Unknown or missing widget tokens, per client address.
    bearer_failures: FailureLimiter = field(default_factory=lambda: FailureLimiter(30, 60.0))
    #: Rejected identity tokens on set_user, per widget session and per client address.
    jwt_session_failures: FailureLimiter = field(default_factory=lambda: FailureLimiter(5, 60.0))
    jwt_address_failures: FailureLimiter = field(default_factory=lambda: FailureLimiter(30, 60.0))
    #: Wrong Basic credentials (admin API, exempt widget sessions), per client address
    #: (`addr:`) and per API user (`user:`).
    basic_failures: FailureLimiter = field(default_factory=lambda: FailureLimiter(10, 60.0))
    #: Session starts, identifications and new conversations, per address and per app.
    budgets: Budgets = field(default_factory=Budgets)
    #: Budget refusals answered again before routing until the budget refills (shedding.py).
    refusals: Refusals = field(default_factory=Refusals)
    #: Widget bearer token -> the session it opens.
    tokens: dict[str, KnownToken] = field(default_factory=dict)
    #: Demo portal logins: cookie value -> customer email (in memory; the demo only).
    portal_logins: dict[str, str] = field(default_factory=dict)
    #: Run desk calls on the event loop while they are quick (see `call`).
    inline: bool = True
    _threads_until: float = 0.0
    _unreachable_until: float = 0.0
    _origins: tuple[float, dict[str, frozenset[str]]] = (0.0, {})
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: A second connection for long reads (`scan`), opened when first needed.
    _reader: Desk | None = None

    async def scan(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run `fn(reader, *args)`, a read over a whole queue or the whole desk (hundreds of
        ms on a big desk), on a connection of its own in the thread pool: requests on the
        desk's connection (every other agent's and customer's) do not wait behind it, and
        neither does the event loop. Errors are those of `call`."""
        now = time.monotonic()
        if now < self._unreachable_until:
            raise StoreUnavailable("the desk's database is unreachable (tried just now)")

        def read() -> Any:
            with self._lock:
                if self._reader is None:
                    self._reader = Desk.open(
                        self.desk.location, clock=self.desk.clock, create=False
                    )
                reader = self._reader
            return fn(reader, *args, **kwargs)

        try:
            return await run_in_threadpool(read)
        except StoreUnavailable:
            self._unreachable_until = time.monotonic() + UNREACHABLE_HOLD_S
            raise

    def close(self) -> None:
        """Close the desk and the reader's connection."""
        with self._lock:
            reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        self.desk.close()

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking desk call.

        All desk calls serialize on the one connection anyway, and handing each to a worker
        thread costs more than the call itself (GIL hand-offs: measured 1.7x fewer messages/s
        in bench/http.py). So calls run on the event loop; as soon as one is slow (the file is
        locked by another process, a checkpoint runs), the following calls go to the thread
        pool for a few seconds, so the loop keeps serving streams and other requests.

        While the desk's database cannot be reached (`StoreUnavailable`), calls fail at once
        for `UNREACHABLE_HOLD_S` after each failed try, and tries run in the thread pool.
        """
        now = time.monotonic()
        if now < self._unreachable_until:
            raise StoreUnavailable("the desk's database is unreachable (tried just now)")
        try:
            if not self.inline or now < self._threads_until:
                return await run_in_threadpool(fn, *args, **kwargs)
            started = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                if time.monotonic() - started > INLINE_BUDGET_S:
                    self._threads_until = time.monotonic() + THREADS_AFTER_SLOW_S
        except StoreUnavailable:
            self._unreachable_until = time.monotonic() + UNREACHABLE_HOLD_S
            self._threads_until = time.monotonic() + THREADS_AFTER_SLOW_S
            raise

    def remember_token(self, token: str, known: KnownToken) -> None:
        with self._lock:
            if len(self.tokens) >= MAX_CACHED_TOKENS:
                self.tokens.clear()
            self.tokens[token] = known

    def session_of(self, token: str) -> str | None:
        """The widget session `token` opens, when this process already knows it."""
        known = self.tokens.get(token)
        return known.session_id if known is not None else None

    def desk_changed(self, events: list[Event]) -> None:
        """A change-feed batch: when it changed apps, agents or inboxes (`gladdesk apps set`,
        `config apply` in another process), read them afresh from the next request on."""
        if self.engine.follow(events):
            self._origins = (float("-inf"), {})

    def allowed_origins(self) -> dict[str, frozenset[str]]:
        """app id -> the origins its widget may be embedded on (from `apps.allowed_origins`)."""
        loaded_at, origins = self._origins
        if time.monotonic() - loaded_at < ORIGINS_TTL_S:
            return origins
        origins = {}
        for app_id, raw in app_origins(self.desk):
            try:
                listed = json.loads(raw)
            except ValueError:
                listed = []
            origins[app_id] = frozenset(
                o.rstrip("/") for o in listed if isinstance(o, str) and o.strip()
            )
        self._origins = (time.monotonic(), origins)
        return origins


def web_state(request: Request) -> WebState:
    return request.app.state.web  # type: ignore[no-any-return]


def client_address(request: Request) -> str:
    """The client's address: the connection's peer, or what `X-Forwarded-For` says when the
    peer is a proxy `serve --forwarded-allow-ips` trusts (uvicorn decides)."""
    return request.client.host if request.client else "unknown"


def client_network(request: Request) -> str:
    """The key the limits count the client under (an IPv6 client by its /64)."""
    return address_group(client_address(request)) or "unknown"


def same_origin(request: Request, origin: str) -> bool:
    host = request.headers.get("host")
    return host is not None and origin in (f"http://{host}", f"https://{host}")


def origin_allowed(request: Request, state: WebState, app_id: str | None) -> bool:
    """No Origin (not a browser), our own pages, or an origin the app allows."""
    origin = request.headers.get("origin")
    if origin is None or same_origin(request, origin):
        return True
    origins = state.allowed_origins()
    if app_id is None:
        return any(origin in allowed or "*" in allowed for allowed in origins.values())
    allowed = origins.get(app_id, frozenset())
    return origin in allowed or "*" in allowed
