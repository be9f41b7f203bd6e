"""Request body size limits, the failed-authentication limiter, the flood budgets and the
refusals held for answering before routing.

The limiters are in memory: right for one server process. Several processes behind a
balancer would each count on their own (a shared store would be the next step). Each keeps
at most a fixed number of keys in an LRU map, dropping the least recently used first and
expired ones as it goes, so memory and time per request stay O(1) whoever is counted.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.budgets import BUDGET_KINDS
from core.errors import RateLimited
from core.store import Desk
from core.store import buckets as shared_buckets

#: Largest request body accepted, in bytes: a 4,000-character message JSON-escaped, or a
#: JWT (8 KiB at most) with a name, fits with room to spare.
MAX_BODY_BYTES = 32 * 1024


async def refuse(
    send: Send,
    status: int,
    code: str,
    detail: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    close: bool = False,
) -> None:
    """Answer with the error envelope (docs/widget-api.md#errors) from ASGI middleware, before
    the app; `close` when the request's body was left unread."""
    body = json.dumps({"errors": [{"attr": None, "code": code, "detail": detail}]}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    head += headers or []
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse bodies over `limit` bytes with 413, by Content-Length or while streaming.

    The body is read here, before the app sees it (it is small by construction), so a chunked
    upload that grows too large is refused the same way as a declared one.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_body = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await refuse(
                        send, 400, "bad_request", "invalid Content-Length header", close=True
                    )
                    return
                if declared > self.limit:
                    await refuse(send, 413, "too_large", self._detail(), close=True)
                    return
                has_body = declared > 0
            elif name == b"transfer-encoding":
                has_body = True
        if not has_body:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await refuse(send, 413, "too_large", self._detail(), close=True)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _detail(self) -> str:
        return f"request body larger than {self.limit} bytes"


#: Keys a limiter remembers at most (client addresses, users, sessions).
MAX_KEYS = 100_000
#: Expired keys dropped per call, besides the one called for: enough to keep up, O(1).
EXPIRED_PER_CALL = 2


class FailureLimiter:
    """At most `limit` failures per key within `window_s`; then the key is blocked.

    Keys are strings such as `addr:127.0.0.1` or `user:backend@shop.example`. A key is kept
    from its first failure until `window_s` after its last one, in order of its last failure
    (so the oldest key is always the first to expire); past `max_keys`, the least recently
    failing key is forgotten. Thread-safe.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        now: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._now = now
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def _expire(self, now: float) -> None:
        """Drop up to `EXPIRED_PER_CALL` keys whose last failure is out of the window."""
        for _ in range(EXPIRED_PER_CALL):
            oldest = next(iter(self._failures.items()), None)
            if oldest is None or oldest[1][-1] > now - self.window_s:
                return
            del self._failures[oldest[0]]

    def retry_after(self, key: str) -> int:
        """Seconds until `key` may try again; 0 when it is not blocked."""
        with self._lock:
            now = self._now()
            self._expire(now)
            times = self._recent(key, now)
            if times is None or len(times) < self.limit:
                return 0
            return max(1, int(times[0] + self.window_s - now + 0.999))

    def fail(self, key: str) -> None:
        with self._lock:
            now = self._now()
            self._expire(now)
            times = self._recent(key, now)
            if times is None:
                while len(self._failures) >= self._max_keys:
                    self._failures.popitem(last=False)
                times = self._failures[key] = deque()
            else:
                self._failures.move_to_end(key)
            times.append(now)
            while len(times) > self.limit:
                times.popleft()


class TokenBuckets:
    """Token buckets by key: each holds up to `capacity` tokens and refills `per_s` a second.

    Capacity, rate and time come with each call (an app's settings, the caller's clock). A
    bucket is kept from its first take until it has refilled, least recently used first out
    past `max_keys` (a forgotten bucket is a full one). Not locked: `Budgets` locks around it.
    """

    def __init__(self, *, max_keys: int) -> None:
        self._max_keys = max_keys
        #: key -> [tokens left, when counted, when full again]
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def level(self, key: str, capacity: float, per_s: float, now: float) -> float:
        """Tokens in the bucket at `now`."""
        self._expire(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            return capacity
        tokens, counted_at, _ = bucket
        return min(capacity, tokens + (now - counted_at) * per_s)

    def keep(self, key: str, tokens: float, capacity: float, per_s: float, now: float) -> None:
        """Record the bucket's `tokens` at `now`."""
        full_at = now + (capacity - tokens) / per_s
        if key in self._buckets:
            self._buckets.move_to_end(key)
        else:
            while len(self._buckets) >= self._max_keys:
                self._buckets.popitem(last=False)
        self._buckets[key] = [tokens, now, full_at]

    def _expire(self, now: float) -> None:
        for _ in range(EXPIRED_PER_CALL):
            oldest = next(iter(self._buckets.items()), None)
            if oldest is None or oldest[1][2] > now:
                return
            del self._buckets[oldest[0]]


class FixedBudget:
    """A token bucket per key, all of one size: `per_min` a minute, all of them at once.

    For budgets the server sets itself rather than an app (opening event streams). Thread-safe.
    """

    def __init__(
        self,
        per_min: int,
        *,
        max_keys: int = MAX_KEYS,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(per_min)
        self.per_s = per_min / 60.0
        self._now = now
        self._buckets = TokenBuckets(max_keys=max_keys)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def wait(self, key: str) -> float:
        """Seconds until `key` has a token; 0 when it has one now."""
        with self._lock:
            tokens = self._buckets.level(key, self.capacity, self.per_s, self._now())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.per_s

    def spend(self, key: str) -> None:
        """Take one token from `key`'s bucket (it may go below zero: the caller checked)."""
        with self._lock:
            now = self._now()
            tokens = self._buckets.level(key, self.capacity, self.per_s, now)
            self._buckets.keep(key, tokens - 1.0, self.capacity, self.per_s, now)


class AppRow(Protocol):
    """An `apps` row: its columns by name."""

    def __getitem__(self, column: str) -> Any: ...


class Budgets:
    """The flood budgets of the widget API (core/budgets.py): for each of `BUDGET_KINDS`, a
    token bucket per app and client address and one per app, sized by the app's settings.

    A call takes one token from both buckets, or from neither: an address refused does not
    spend its app's budget. Apps are counted apart from addresses, so that a flood from many
    addresses cannot push an app's bucket out of the map. Thread-safe.
    """

    def __init__(
        self, *, max_addresses: int = MAX_KEYS, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._now = now
        self.addresses = TokenBuckets(max_keys=max_addresses)
        self.apps = TokenBuckets(max_keys=MAX_KEYS)
        self._lock = threading.Lock()

    def take(self, kind: str, app: AppRow, address: str) -> None:
        """Spend one of `kind` for `address` on `app` (an app row); `RateLimited` when either
        budget is spent, with the seconds until both have a token again."""
        assert kind in BUDGET_KINDS, kind
        app_id = str(app["app_id"])
        wanted = []
        for scope, buckets, key in (
            ("address", self.addresses, f"{kind}:{app_id}:{address}"),
            ("app", self.apps, f"{kind}:{app_id}"),
        ):
            per_min = int(app[f"{scope}_{kind}_per_min"])
            if per_min > 0:
                wanted.append((scope, buckets, key, float(per_min), per_min / 60.0))
        with self._lock:
            now = self._now()
            levels = [buckets.level(key, cap, rate, now) for _, buckets, key, cap, rate in wanted]
            short = [
                (scope, (1.0 - tokens) / rate)
                for (scope, _, _, _, rate), tokens in zip(wanted, levels, strict=True)
                if tokens < 1.0
            ]
            if not short:
                for (_, buckets, key, cap, rate), tokens in zip(wanted, levels, strict=True):
                    buckets.keep(key, tokens - 1.0, cap, rate, now)
                return
        scope, wait = max(short, key=lambda s: s[1])
        who = "this address" if scope == "address" else f"all addresses on app {app_id!r}"
        raise RateLimited(
            f"too many {BUDGET_NOUNS[kind]} from {who}; retry in {max(1, int(wait + 0.999))} s",
            retry_after_s=wait,
        )


class SharedBudgets(Budgets):
    """The same budgets counted in the desk (`core.store.buckets`): every server process of
    the desk (`serve --workers N`, several servers on one PostgreSQL) spends from the same
    buckets, so N processes let through what one would. A statement a bucket per call."""

    #: Takes between two sweeps of the buckets that are full again.
    SWEEP_EVERY = 1000

    def __init__(self, desk: Desk) -> None:
        super().__init__()
        self.desk = desk
        self._takes = 0

    def take(self, kind: str, app: AppRow, address: str) -> None:
        assert kind in BUDGET_KINDS, kind
        app_id = str(app["app_id"])
        wanted, scopes = [], {}
        for scope, key in (("address", f"{kind}:{app_id}:{address}"), ("app", f"{kind}:{app_id}")):
            per_min = int(app[f"{scope}_{kind}_per_min"])
            if per_min > 0:
                wanted.append(shared_buckets.Bucket(key, float(per_min), per_min / 60_000.0))
                scopes[key] = scope
        if not wanted:
            return
        now = self.desk.clock.now_ms()
        try:
            shared_buckets.take_all(self.desk, wanted, now)
        except shared_buckets.Short as short:
            scope = scopes[short.bucket.key]
            who = "this address" if scope == "address" else f"all addresses on app {app_id!r}"
            wait = short.wait_ms / 1000
            raise RateLimited(
                f"too many {BUDGET_NOUNS[kind]} from {who}; retry in {max(1, int(wait + 0.999))} s",
                retry_after_s=wait,
            ) from None
        self._takes += 1
        if self._takes % self.SWEEP_EVERY == 0:
            shared_buckets.forget_full(self.desk, now)


#: How a refusal names each budget.
BUDGET_NOUNS = {
    "sessions": "new widget sessions",
    "identifications": "identifications",
    "conversations": "new conversations",
}


class Refusals:
    """Refusals held until a time, by key (core/web/shedding.py answers them before routing).

    A bounded LRU map: past `max_keys` the oldest hold is forgotten (the route then refuses
    again itself). Thread-safe.
    """

    def __init__(
        self, *, max_keys: int = MAX_KEYS, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._now = now
        self._max_keys = max_keys
        self._held: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, key: str, retry_after_s: float, reason: str) -> None:
        """Answer `key`'s calls with 429 for the next `retry_after_s` seconds, saying `reason`
        (and the seconds left)."""
        with self._lock:
            self._held.pop(key, None)
            while len(self._held) >= self._max_keys:
                self._held.popitem(last=False)
            self._held[key] = (self._now() + retry_after_s, reason)

    def held(self, key: str) -> tuple[float, str] | None:
        """(seconds left, reason) while `key` is held; None when it is not (any more)."""
        with self._lock:
            entry = self._held.get(key)
            if entry is None:
                return None
            left = entry[0] - self._now()
            if left <= 0:
                del self._held[key]
                return None
            return left, entry[1]
