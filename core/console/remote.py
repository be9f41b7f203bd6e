"""`ConsoleData` over the network: the agent API (`/agent/v1`, docs/agent-api.md) with the
agent's personal access token, for `gladdesk console --url` (docs/console.md#over-the-network).

Reads and actions are one HTTP request each (a few for a page longer than the API's 200
rows); the server decides what the agent may see and do, and its refusals come back as the
desk's own errors (`Conflict`, `NotFound`, `InvalidQuery`), so the console shows them as it
does locally. Changes come from the event stream (`GET /agent/v1/events`), read by a thread
of this backend into a buffer that `changed()` and `changes_after()` serve, with no request.

The stream is the link's health: when it drops (the server restarts, the network goes), the
link is `down`, the thread tries again (0.25 s, then up to every 3 s) and resumes after the
last event it had (`Last-Event-ID`), so no change is lost or seen twice. A request while the
link is down fails at once with `Unreachable` (nothing was sent) instead of waiting. A 401
or the stream's `revoked` event ends the session (`ended`): the token was revoked or
replaced; no request is made after it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core.clock import Clock, OffsetClock, SystemClock, parse_iso
from core.console.data import (
    HIT_END,
    HIT_START,
    LINK_UP,
    MAX_PAGE,
    AgentEntry,
    ConversationView,
    Event,
    InvalidQuery,
    Link,
    MessageHit,
    PastConversation,
    ProfileHit,
    QueueDirectory,
    QueuePage,
    QueueQuery,
    QueueRow,
    QueueSnapshot,
    RejectionNote,
    SignedOut,
    TimelineItem,
    TimelinePage,
    Unreachable,
    decode_cursor,
)
from core.errors import Conflict, DeskError, NotFound, RateLimited
from core.models import ProfileView
from core.report import AuthReport, report_from_dict

if TYPE_CHECKING:
    # Imported where used: the httpx package loads its command line's optional packages
    # (rich, pygments) when they are installed, and core stays free of them until a console
    # over the network starts.
    import httpx
    from httpx_sse import ServerSentEvent

#: Rows or items the agent API answers a request at most (core/web/agent_api.py).
API_PAGE = 200
#: Pages one directory read may carry.
API_DIRECTORY_PAGES = 8
#: Search hits the API gives of each kind at most.
API_SEARCH_HITS = 50
#: How long a request may take; connecting gets less (a server that is down says so fast).
TIMEOUT_S = 15.0
CONNECT_TIMEOUT_S = 4.0
#: The stream's read timeout: the server sends a keep-alive every 15 s, so silence longer
#: than this means the link is gone even when no connection was closed.
STREAM_READ_TIMEOUT_S = 40.0
#: Waits between tries to open the stream again, the last one repeated.
RECONNECT_DELAYS_S = (0.25, 0.5, 1.0, 2.0, 3.0)
#: An event's data longer than this is not one of the desk's (it is dropped).
MAX_EVENT_DATA = 64 * 1024
#: Search answers kept for the customer and message halves of one search.
SEARCH_CACHE_S = 2.0

SIGNED_OUT = (
    "this agent token was revoked or replaced (gladdesk agents token HANDLE --rotate, or"
    " agents disable): ask an admin for a new one and sign in again"
)


class RemoteConsoleData:
    """The console's data from the desk's server at `url`, as the agent the token belongs to.

    Build it with `open`, which checks the token and the handle before anything runs."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        agent: str,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        import httpx

        self.url = _base_url(url)
        self.server: str | None = self.url
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": "gladdesk-console",
        }
        self._client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S),
            transport=transport,
        )
        self._stream_client = httpx.Client(
            base_url=self.url,
            headers=headers | {"Accept": "text/event-stream", "Cache-Control": "no-store"},
            timeout=httpx.Timeout(CONNECT_TIMEOUT_S, read=STREAM_READ_TIMEOUT_S),
            transport=transport,
        )
        self._lock = threading.Lock()
        self._events: deque[Event] = deque()
        self._received = 0
        self._seen: int | None = None
        self._link = LINK_UP
        self._closing = threading.Event()
        self._search: tuple[float, tuple[str, int], Any] | None = None
        self._stream_thread: threading.Thread | None = None
        self._connected = False
        self._stream_answer: httpx.Response | None = None
        try:
            me = self._get("/agent/v1/me")
            handle = _text(me["handle"])
            if handle != agent:
                raise Conflict(
                    f"this token is agent {handle}'s, not {agent}'s: pass --agent {handle},"
                    " or the token of the agent you mean"
                )
            self.agent = handle
            self.agent_id = _int(me["id"])
            # The desk's clock, which a demo desk runs behind the wall clock: waiting times
            # are counted on it (the offset includes the request's flight, a few ms).
            offset = SystemClock().now_ms() - parse_iso(_text(me["now"]))
            self.clock: Clock = OffsetClock(offset if abs(offset) > 2_000 else 0)
            self._last_event_id = _int(me["lastEventId"])
        except (KeyError, TypeError, ValueError) as exc:
            self.close()
            raise Unreachable(
                f"{self.url} answered /agent/v1/me with something else ({exc!r}): is it a"
                " gladdesk server?"
            ) from None
        except BaseException:
            self.close()
            raise
        #: The id the stream resumes after: the last event it delivered.
        self._stream_after = self._last_event_id

    @classmethod
    def open(
        cls, url: str, token: str, *, agent: str, transport: httpx.BaseTransport | None = None
    ) -> RemoteConsoleData:
        """Sign in at `url` as `agent` and start following the desk's changes. Raises
        `SignedOut` for a token the server refuses, `Unreachable` when it cannot be reached,
        `Conflict` when the token is another agent's."""
        data = cls(url, token, agent=agent, transport=transport)
        data.start()
        return data

    def start(self) -> None:
        """Start the event stream's thread (once)."""
        if self._stream_thread is None:
            self._stream_thread = threading.Thread(
                target=self._follow, name="agent event stream", daemon=True
            )
            self._stream_thread.start()

    # -- requests --------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        missing: Callable[[str], DeskError] = NotFound,
    ) -> Any:
        """One request's JSON answer; its refusal as the desk's own error."""
        link = self._link
        if link.state == "ended":
            raise SignedOut(link.detail)
        if link.state == "down" and method != "GET":
            raise Unreachable(
                f"the desk at {self.url} cannot be reached just now ({link.detail});"
                " nothing was sent"
            )
        import httpx

        wanted = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            answer = self._client.request(method, path, params=wanted, json=body)
        except httpx.ConnectError as exc:
            raise Unreachable(
                f"the desk at {self.url} cannot be reached ({_reason(exc)}); nothing was sent"
            ) from None
        except httpx.TimeoutException:
            raise Unreachable(
                f"the desk at {self.url} did not answer in time; it may or may not have been"
                " done: look before trying again"
            ) from None
        except httpx.HTTPError as exc:
            raise Unreachable(f"the desk at {self.url}: {_reason(exc)}") from None
        return self._answer(answer, missing)

    def _answer(self, answer: httpx.Response, missing: Callable[[str], DeskError]) -> Any:
        status = answer.status_code
        detail = _detail(answer)
        if 200 <= status < 300:
            try:
                return answer.json()
            except ValueError:
                raise Unreachable(
                    f"{self.url} answered with something that is not the agent API's JSON:"
                    " is it a gladdesk server?"
                ) from None
        if status == 401:
            self._end(SIGNED_OUT)
            raise SignedOut(SIGNED_OUT)
        if status == 404:
            raise missing(detail or "not found")
        if status == 409:
            raise Conflict(detail or "refused")
        if status in (400, 413, 422):
            if _attr(answer) in ("to", "inbox") and detail.startswith("no "):
                raise NotFound(detail)  # an agent or inbox the desk does not have
            raise InvalidQuery(detail or "refused as bad input")
        if status == 429:
            retry = answer.headers.get("Retry-After", "1")
            wait = float(retry) if retry.isdigit() else 1.0
            raise RateLimited(detail or "too many requests", retry_after_s=wait)
        if status == 503:
            raise Unreachable(detail or "the desk is unavailable just now; nothing was done")
        raise Unreachable(f"{self.url} answered HTTP {status}" + (f": {detail}" if detail else ""))

    def _get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params)

    def _post(self, path: str, body: Any = None) -> Any:
        return self._request("POST", path, body=body)

    # -- who and where ---------------------------------------------------------------------------

    def me(self) -> AgentEntry:
        me = self._get("/agent/v1/me")
        with _shape():
            return AgentEntry(
                id=_int(me["id"]),
                handle=_text(me["handle"]),
                name=_text(me["name"]),
                available=bool(me["available"]),
                open_conversations=_int(me["openConversations"]),
                capacity=_int(me["capacity"]),
                # A disabled agent's token is revoked: the session ends instead.
                disabled=False,
            )

    def agents(self) -> list[AgentEntry]:
        found = self._get("/agent/v1/agents")
        with _shape():
            return [
                AgentEntry(
                    id=_int(a["id"]),
                    handle=_text(a["handle"]),
                    name=_text(a["name"]),
                    available=bool(a["available"]),
                    open_conversations=_int(a["openConversations"]),
                    capacity=_int(a["capacity"]),
                    disabled=bool(a["disabled"]),
                )
                for a in found["agents"]
            ]

    def inboxes(self) -> list[str]:
        found = self._get("/agent/v1/inboxes")
        with _shape():
            return [_text(name) for name in found["inboxes"]]

    # -- the queue -------------------------------------------------------------------------------

    def queue_directory(self, query: QueueQuery, *, every: int) -> QueueDirectory:
        return self._directory(query, every=every, pages=())[0]

    def _directory(
        self, query: QueueQuery, *, every: int, pages: Iterable[int]
    ) -> tuple[QueueDirectory, dict[int, tuple[QueueRow, ...]]]:
        _check_page_size(every)
        wanted = ",".join(str(n) for n in sorted(set(pages)) if 0 <= n < 10**9) or None
        found = self._get(
            "/agent/v1/queue/directory", **_queue_params(query), every=every, pages=wanted
        )

        def parse() -> tuple[QueueDirectory, dict[int, tuple[QueueRow, ...]]]:
            directory = QueueDirectory(
                total=_int(found["total"]),
                every=_int(found["every"]),
                starts=tuple(_text(start) for start in found["starts"]),
            )
            rows = {
                int(number): tuple(_queue_row(row) for row in page)
                for number, page in found["pages"].items()
            }
            return directory, rows

        with _shape():
            return parse()

    def queue_page(
        self, query: QueueQuery, *, after: str | None = None, limit: int = 64
    ) -> QueuePage:
        _check_page_size(limit)
        if after is not None:
            decode_cursor(after)  # refused here, in the local backend's words
        rows: list[QueueRow] = []
        cursor = after
        while True:
            size = min(API_PAGE, limit - len(rows))
            found = self._get("/agent/v1/queue", **_queue_params(query), after=cursor, limit=size)
            with _shape():
                page = [_queue_row(r) for r in found["rows"]]
                cursor = _optional_text(found["next"])
            rows += page
            if cursor is None or len(rows) >= limit:
                return QueuePage(tuple(rows), cursor)

    def queue_snapshot(
        self,
        query: QueueQuery,
        *,
        directory: QueueDirectory | None,
        pages: Iterable[int],
        every: int,
    ) -> QueueSnapshot:
        wanted = sorted(set(pages))
        seconds: float | None = None
        rows: dict[int, tuple[QueueRow, ...]] = {}
        if directory is None:
            # One request: the count, the starts and the first pages, in one snapshot.
            started = time.perf_counter()
            directory, rows = self._directory(
                query, every=every, pages=wanted[:API_DIRECTORY_PAGES]
            )
            seconds = time.perf_counter() - started
        for page in wanted:
            start = directory.start(page)
            if page not in rows and start is not None:
                rows[page] = self.queue_page(query, after=start, limit=every).rows
        return QueueSnapshot(directory, rows, seconds)

    # -- a conversation --------------------------------------------------------------------------

    def conversation(self, conversation_id: int) -> ConversationView:
        found = self._get(f"/agent/v1/conversations/{_id(conversation_id)}")
        with _shape():
            return _conversation(found)

    def timeline(
        self,
        conversation_id: int,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> TimelinePage:
        if before is not None and after is not None:
            raise InvalidQuery("timeline: give before or after, not both")
        _check_page_size(limit)
        path = f"/agent/v1/conversations/{_id(conversation_id)}/items"
        items: list[TimelineItem] = []
        status = ""
        while True:
            size = min(API_PAGE, limit - len(items))
            found = self._get(path, before=before, after=after, limit=size)
            with _shape():
                status = _text(found["status"])
                page = [_item(item, status) for item in found["items"]]
                more = bool(found["more"])
            if after is not None:
                items += page
            else:
                items[:0] = page
            if not more or not page or len(items) >= limit:
                return TimelinePage(status, tuple(items))
            # On in the same direction: newer after the last, older before the first.
            if after is not None:
                after = page[-1].id
            else:
                before = page[0].id

    def past_conversations(
        self, profile_id: int, *, exclude: int | None = None
    ) -> list[PastConversation]:
        try:
            found = self._get(f"/agent/v1/profiles/{_id(profile_id)}")
        except NotFound:
            return []  # none of their conversations is this agent's to see
        with _shape():
            return [
                PastConversation(
                    id=_int(p["id"]),
                    status=_text(p["status"]),
                    inbox=_text(p["inbox"]),
                    created_at=_time(p["createdAt"]) or 0,
                    trust_path=_optional_text(p["trustPath"]),
                    trusted_messages=_int(p["trustedMessages"]),
                    customer_messages=_int(p["customerMessages"]),
                )
                for p in found["conversations"]
                if p["id"] != exclude
            ]

    # -- search and reports ----------------------------------------------------------------------

    def _searched(self, text: str, limit: int) -> Any:
        """The API's answer for `text` (both halves: the console asks for customers, then
        messages, for one search: one request serves both)."""
        key = (text, min(max(limit, 1), API_SEARCH_HITS))
        cached = self._search
        if (
            cached is not None
            and cached[1] == key
            and time.monotonic() - cached[0] < SEARCH_CACHE_S
        ):
            return cached[2]
        found = self._get("/agent/v1/search", q=text, limit=key[1])
        self._search = (time.monotonic(), key, found)
        return found

    def search_customers(self, text: str, *, limit: int) -> list[ProfileHit]:
        if not text.strip():
            return []
        found = self._searched(text, limit)
        with _shape():
            return [_profile_hit(hit) for hit in found["profiles"]][:limit]

    def search_messages(self, text: str, *, limit: int) -> list[MessageHit]:
        if not text.strip():
            return []
        found = self._searched(text, limit)
        with _shape():
            return [_message_hit(hit) for hit in found["messages"]][:limit]

    def authentication_report(self) -> AuthReport:
        found = self._get("/agent/v1/reports/authentication")
        with _shape():
            return report_from_dict(found)

    # -- the agent's actions ---------------------------------------------------------------------

    def _act(self, conversation_id: int, action: str, body: Any = None) -> Any:
        return self._post(f"/agent/v1/conversations/{_id(conversation_id)}/{action}", body)

    def reply(self, conversation_id: int, body: str) -> int:
        done = self._act(conversation_id, "reply", {"body": body})
        with _shape():
            return _int(done["itemId"])

    def send_login_prompt(self, conversation_id: int) -> int:
        done = self._act(conversation_id, "login-prompt")
        with _shape():
            return _int(done["itemId"])

    def take(self, conversation_id: int) -> None:
        self._act(conversation_id, "take")

    def transfer(
        self, conversation_id: int, *, to_agent: str | None = None, to_inbox: str | None = None
    ) -> None:
        body = {k: v for k, v in (("to", to_agent), ("inbox", to_inbox)) if v is not None}
        self._act(conversation_id, "transfer", body)

    def close_conversation(self, conversation_id: int, *, force: bool = False) -> None:
        self._act(conversation_id, "close", {"force": force})

    def reopen_conversation(self, conversation_id: int) -> None:
        self._act(conversation_id, "reopen")

    # -- live changes ----------------------------------------------------------------------------

    def last_change_id(self) -> int:
        """The newest change this console has been sent (the desk's newest when it signed
        in, then the stream's last event)."""
        with self._lock:
            return self._stream_after

    def changed(self) -> bool:
        with self._lock:
            if self._received == self._seen:
                return False
            self._seen = self._received
            return True

    def changes_after(self, after_id: int, *, limit: int) -> list[Event]:
        with self._lock:
            while self._events and self._events[0].id <= after_id:
                self._events.popleft()
            return [event for _, event in zip(range(limit), self._events, strict=False)]

    def link(self) -> Link:
        return self._link

    def close(self) -> None:
        """Stop the stream and close the connections; safe to call twice."""
        self._closing.set()
        answer = self._stream_answer
        if answer is not None:
            with contextlib.suppress(Exception):
                answer.close()  # ends the stream's read at once (the server lets it go too)
        self._stream_client.close()
        self._client.close()
        thread = self._stream_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)

    # -- the event stream ------------------------------------------------------------------------

    def _end(self, detail: str) -> None:
        with self._lock:
            if self._link.state != "ended":
                self._link = Link("ended", detail, SystemClock().now_ms())
                self._received += 1  # the tail looks at once

    def _down(self, detail: str) -> None:
        with self._lock:
            link = self._link
            if link.state == "ended":
                return
            since = link.since_ms if link.state == "down" else SystemClock().now_ms()
            attempts = link.attempts + 1 if link.state == "down" else 0
            self._link = Link("down", detail, since, attempts)
            self._received += 1

    def _up(self) -> None:
        with self._lock:
            if self._link.state == "down":
                self._link = LINK_UP
                self._received += 1

    def _follow(self) -> None:
        """The stream's thread: read events into the buffer; reconnect when the link drops,
        after the last event delivered."""
        tries = 0
        while not self._closing.is_set():
            self._connected = False
            try:
                self._read_stream()
                reason = "the desk's server closed the event stream"
            except SignedOut:
                return
            except Unreachable as exc:
                reason = str(exc)
            except Exception as exc:  # noqa: BLE001 - the stream must outlive any one failure
                # httpx's errors, a socket's, a client closed under the read (the console
                # quits), or a bug: the link is down and is tried again either way.
                reason = _reason(exc)
            if self._closing.is_set():
                return
            self._down(reason)
            if self._connected:
                tries = 0  # it was up: try again soon
            delay = RECONNECT_DELAYS_S[min(tries, len(RECONNECT_DELAYS_S) - 1)]
            tries += 1
            if self._closing.wait(delay):
                return

    def _read_stream(self) -> None:
        headers = {"Last-Event-ID": str(self._stream_after)}
        with self._stream_client.stream("GET", "/agent/v1/events", headers=headers) as answer:
            self._stream_answer = answer
            if answer.status_code != 200:
                answer.read()
                self._answer(answer, NotFound)  # raises: 401 ends, others are Unreachable
                raise Unreachable(f"the event stream answered HTTP {answer.status_code}")
            if not answer.headers.get("content-type", "").startswith("text/event-stream"):
                raise Unreachable(f"{self.url}/agent/v1/events is not an event stream")
            self._connected = True
            self._up()
            for sse in _events(answer):
                if self._closing.is_set():
                    return
                self._receive(sse)

    def _receive(self, sse: ServerSentEvent) -> None:
        if sse.event == "revoked":
            self._end(SIGNED_OUT)
            raise SignedOut(SIGNED_OUT)
        if not sse.id or len(sse.data) > MAX_EVENT_DATA:
            return
        event = _event(sse)
        if event is None or event.id <= self._stream_after:
            return
        with self._lock:
            self._events.append(event)
            self._received += 1
            self._stream_after = event.id


# -- the API's values as the console's ------------------------------------------------------


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidQuery(f"{url!r} is not an http:// or https:// address of a desk's server")
    if parts.query or parts.fragment:
        raise InvalidQuery(f"{url!r}: give the server's address without ?query or #fragment")
    return url.rstrip("/")


def _events(answer: httpx.Response) -> Iterator[ServerSentEvent]:
    from httpx_sse import EventSource

    yield from EventSource(answer).iter_sse()


def _event(sse: ServerSentEvent) -> Event | None:
    """A change from a stream frame; None for a frame that is not one."""
    try:
        data = json.loads(sse.data)
        if not isinstance(data, dict):
            return None
        at = data.get("at")
        return Event(
            id=int(sse.id),
            kind=_text(data.get("kind") or sse.event),
            at=parse_iso(at) if isinstance(at, str) else SystemClock().now_ms(),
            conversation_id=_optional_int(data.get("conversationId")),
            item_id=_optional_int(data.get("itemId")),
            session_id=None,
            profile_id=_optional_int(data.get("profileId")),
            agent_id=_optional_int(data.get("agentId")),
        )
    except (TypeError, ValueError):
        return None


def _detail(answer: httpx.Response) -> str:
    """The first error's detail from the desk's error envelope, else ''."""
    with contextlib.suppress(ValueError, KeyError, IndexError, TypeError, AttributeError):
        errors = answer.json()["errors"]
        return "; ".join(str(e["detail"])[:300] for e in errors[:3])
    return ""


def _attr(answer: httpx.Response) -> str | None:
    """What the first error of the envelope is about (a field or parameter), if it says."""
    with contextlib.suppress(ValueError, KeyError, IndexError, TypeError, AttributeError):
        attr = answer.json()["errors"][0]["attr"]
        return attr if isinstance(attr, str) else None
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "ConnectError" in text:
        return "connection refused"
    return text[:200]


@contextlib.contextmanager
def _shape() -> Iterator[None]:
    """Reading an answer's JSON: an answer not shaped as the API's is Unreachable."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Unreachable(
            f"the desk answered something the console cannot read ({exc!r})"
        ) from None


def _check_page_size(limit: object) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"page size must be a number from 1 to {MAX_PAGE}")


def _id(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2**63:
        raise NotFound(f"no conversation {value!r}")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected a number, not {value!r:.40}")
    return value


def _optional_int(value: object) -> int | None:
    return None if value is None else _int(value)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, not {value!r:.40}")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _optional_bool(value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"expected true, false or null, not {value!r:.40}")
    return value


def _time(value: object) -> int | None:
    return None if value is None else parse_iso(_text(value))


def _queue_params(query: QueueQuery) -> dict[str, Any]:
    if not isinstance(query, QueueQuery):
        raise TypeError(f"expected a QueueQuery, not {type(query).__name__}")
    return {
        "view": query.view,
        "inbox": query.inbox,
        "status": query.status,
        "trust": query.trust,
    }


def _queue_row(row: dict[str, Any]) -> QueueRow:
    return QueueRow(
        id=_int(row["id"]),
        queue_key=_int(row["queueKey"]),
        status=_text(row["status"]),
        inbox=_text(row["inbox"]),
        assignee=_optional_text(row["assignee"]),
        profile_id=_int(row["profileId"]),
        customer=_text(row["customer"]),
        identity_state=_text(row["identityState"]),
        identity_source=_text(row["identitySource"]),
        last_customer_trusted=_optional_bool(row["lastCustomerTrusted"]),
        waiting_since=_time(row["waitingSince"]),
        updated_at=_time(row["updatedAt"]) or 0,
        last_preview=_text(row["lastPreview"]),
        item_count=_int(row["itemCount"]),
        routed_at=_time(row["routedAt"]),
    )


def _rejections(notes: list[dict[str, Any]]) -> tuple[RejectionNote, ...]:
    return tuple(
        RejectionNote(at=_time(n["at"]) or 0, code=_text(n["code"]), kid=_optional_text(n["kid"]))
        for n in notes
    )


def _conversation(found: dict[str, Any]) -> ConversationView:
    customer = found["customer"]
    return ConversationView(
        id=_int(found["id"]),
        status=_text(found["status"]),
        inbox=_text(found["inbox"]),
        assignee=_optional_text(found["assignee"]),
        assignee_name=_optional_text(found["assigneeName"]),
        profile=ProfileView(
            id=_int(customer["id"]),
            name=_text(customer["name"]),
            emails=tuple(_text(e) for e in customer["emails"]),
            phones=tuple(_text(p) for p in customer["phoneNumbers"]),
        ),
        app_id=_optional_text(found["appId"]),
        identity_state=_text(found["identityState"]),
        identity_source=_text(found["identitySource"]),
        trust_path=_optional_text(found["trustPath"]),
        authenticated_at=_time(found["authenticatedAt"]),
        created_at=_time(found["createdAt"]) or 0,
        updated_at=_time(found["updatedAt"]) or 0,
        routed_at=_time(found["routedAt"]),
        waiting_since=_time(found["waitingSince"]),
        last_customer_trusted=_optional_bool(found["lastCustomerTrusted"]),
        tags=tuple(_text(t) for t in found["tags"]),
        claimed_name=_optional_text(found["claimedName"]),
        trusted_until=_time(found["trustedUntil"]),
        rejections=_rejections(found["rejections"]),
    )


def _item(item: dict[str, Any], status: str) -> TimelineItem:
    glyph = item["glyph"]
    if glyph not in ("green", "gray", None):
        raise ValueError(f"unknown glyph {glyph!r:.20}")
    return TimelineItem(
        id=_int(item["id"]),
        conversation_id=_int(item["conversationId"]),
        type=_text(item["type"]),
        sender=_text(item["sender"]),
        event=_optional_text(item["event"]),
        body=_text(item["body"]),
        at=_time(item["timestamp"]) or 0,
        trusted=_optional_bool(item["trusted"]),
        glyph=glyph,
        agent=_optional_text(item["agent"]),
    )


def _profile_hit(hit: dict[str, Any]) -> ProfileHit:
    return ProfileHit(
        id=_int(hit["id"]),
        name=_text(hit["name"]),
        emails=tuple(_text(e) for e in hit["emails"]),
        phones=tuple(_text(p) for p in hit["phoneNumbers"]),
        conversations=_int(hit["conversations"]),
        latest_conversation_id=_optional_int(hit["latestConversationId"]),
        latest_status=_optional_text(hit["latestStatus"]),
        matched=_text(hit["matched"]),
    )


def marked_snippet(snippet: str, matches: list[Any]) -> str:
    """The API's plain snippet with HIT_START/HIT_END around its `matches` again (what the
    console's search list highlights). Overlapping or out-of-range spans are skipped."""
    out: list[str] = []
    done = 0
    for span in matches:
        start, end = int(span[0]), int(span[1])
        if not done <= start <= end <= len(snippet):
            continue
        out += [snippet[done:start], HIT_START, snippet[start:end], HIT_END]
        done = end
    out.append(snippet[done:])
    return "".join(out)


def _message_hit(hit: dict[str, Any]) -> MessageHit:
    return MessageHit(
        conversation_id=_int(hit["conversationId"]),
        item_id=_optional_int(hit["itemId"]),
        snippet=marked_snippet(_text(hit["snippet"]), hit["matches"]),
        customer=_text(hit["customer"]),
        status=_text(hit["status"]),
        at=_time(hit["at"]) or 0,
        sender=_text(hit["sender"]),
    )
