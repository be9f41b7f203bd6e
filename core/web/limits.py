"""Request body size limits and the token-failure rate limiter.

The limiter is in memory: right for one server process. Several processes behind a balancer
would each count on their own (a shared store would be the next step).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Largest request body accepted, in bytes: a 4,000-character message JSON-escaped, or a
#: JWT (8 KiB at most) with a name, fits with room to spare.
MAX_BODY_BYTES = 32 * 1024


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
                    await self._refuse(send, 400, "bad_request", "invalid Content-Length header")
                    return
                if declared > self.limit:
                    await self._refuse(send, 413, "too_large", self._detail())
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
                await self._refuse(send, 413, "too_large", self._detail())
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

    @staticmethod
    async def _refuse(send: Send, status: int, code: str, detail: str) -> None:
        body = json.dumps({"errors": [{"attr": None, "code": code, "detail": detail}]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class FailureLimiter:
    """At most `limit` failures per key within `window_s`; then the key is blocked.

    Keys are strings such as `addr:127.0.0.1` or `session:ws_...`. Thread-safe.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        now: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._now = now
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

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

    def retry_after(self, key: str) -> int:
        """Seconds until `key` may try again; 0 when it is not blocked."""
        with self._lock:
            now = self._now()
            times = self._recent(key, now)
            if times is None or len(times) < self.limit:
                return 0
            return max(1, int(times[0] + self.window_s - now + 0.999))

    def fail(self, key: str) -> None:
        with self._lock:
            now = self._now()
            times = self._recent(key, now)
            if times is None:
                if len(self._failures) >= self._max_keys:
                    self._prune(now)
                times = self._failures[key] = deque()
            times.append(now)
            while len(times) > self.limit:
                times.popleft()

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) >= self._max_keys:
            self._failures.pop(next(iter(self._failures)))
