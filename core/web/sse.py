"""Server-sent events, as the widget's and the agents' event streams write them: frames,
the `Last-Event-ID` a reconnecting client resumes after, and a response that gives its place
under the stream caps back however it ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from core.web.errors import ApiError

#: Largest event id a client may resume after (`?after=` or `Last-Event-ID`).
MAX_EVENT_ID = 2**62
#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE_S = 15.0
#: The reconnect delay a stream asks of `EventSource` (ms).
RETRY_MS = 2000
#: The headers of an event stream: never cached, never buffered by a proxy.
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
KEEPALIVE = b": keep-alive\n\n"
#: How often an open stream tries the desk again while its database cannot be reached.
UNAVAILABLE_RETRY_S = 2.0


@asynccontextmanager
async def watching_disconnect(
    request: Request, wake: asyncio.Event
) -> AsyncIterator[asyncio.Event]:
    """An event set (and `wake` set with it) when the client goes away, for as long as the
    block runs. Starlette does not watch for disconnects on ASGI 2.4 servers: a closed stream
    would linger until its next write."""
    gone = asyncio.Event()

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone.set()
        wake.set()

    watcher = asyncio.create_task(watch())
    try:
        yield gone
    finally:
        watcher.cancel()


async def wait_or_keepalive(wake: asyncio.Event) -> bytes | None:
    """Wait for `wake`, at most KEEPALIVE_S; the keep-alive comment to send when it did not
    come (None when it did)."""
    try:
        async with asyncio.timeout(KEEPALIVE_S):  # not wait_for: see EventHub.run
            await wake.wait()
    except TimeoutError:
        return KEEPALIVE
    return None


async def outage_pause(wake: asyncio.Event) -> None:
    """A stream whose read met `StoreUnavailable`: wait a moment (or until woken) before
    reading again. The stream stays open through the outage: a browser's `EventSource`
    refused on reconnecting (503) gives up for good."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(UNAVAILABLE_RETRY_S):
            await wake.wait()


def sse_frame(kind: str, data: Any, event_id: int | None = None) -> bytes:
    lines = [f"event: {kind}", "data: " + json.dumps(data, ensure_ascii=False)]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    return ("\n".join(lines) + "\n\n").encode()


class EventStream(StreamingResponse):
    """A stream that gives its place back however it ends, even if it never started."""

    def __init__(self, content: AsyncIterator[bytes], *, on_close: Any, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


def parse_last_event_id(value: str) -> int:
    """The event id a reconnecting `EventSource` resumes after: ASCII digits, at most 2**62
    (`str.isdigit` alone would let `"١٢"` or an id past SQLite's integers through)."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_EVENT_ID:
        raise ApiError(
            400,
            "invalid",
            f"Last-Event-ID must be an event id from this stream (0 to {MAX_EVENT_ID});"
            " drop the header to start from now",
            attr="Last-Event-ID",
        )
    return int(text)
