"""`GET /agent/v1/events`: the change feed as server-sent events, cut down to what the token's
agent may see (docs/agent-api.md#events).

Each frame is one change-feed row: `event:` its kind (`item.created`, `conversation.updated`,
...), `id:` its change-feed id, `data:` the ids to re-read. A client that reconnects with
`Last-Event-ID` (or `?after=`) gets every row after that id it may see, none twice. The
stream re-reads the agent and their token on every batch: when the token is revoked or
replaced it sends `event: revoked` and ends. Open streams count against the widget streams'
caps and budgets (`core.web.hub`), under `agent:<id>` as their session.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from core.clock import iso
from core.errors import StoreUnavailable
from core.identity.agent_tokens import agent_still_signed_in
from core.store import Event
from core.store.agent_accounts import AgentAccount
from core.web.agent_api import ERRORS, TOKEN, Agent
from core.web.errors import ApiError
from core.web.hub import Subscription, TooManyStreams
from core.web.sse import (
    KEEPALIVE,
    MAX_EVENT_ID,
    RETRY_MS,
    STREAM_HEADERS,
    EventStream,
    outage_pause,
    parse_last_event_id,
    sse_frame,
    wait_or_keepalive,
    watching_disconnect,
)
from core.web.state import WebState, client_network

router = APIRouter(prefix="/agent/v1", tags=["agent"])

#: Change-feed rows read at a time.
BATCH = 500
#: Conversations a stream remembers having shown (to say when one leaves the agent's sight).
MAX_SHOWN = 10_000


@router.get(
    "/events",
    response_class=StreamingResponse,
    openapi_extra=TOKEN,
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}},
)
async def events(
    request: Request,
    call: Agent,
    after: Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
) -> StreamingResponse:
    """Server-sent events of the conversations this agent may see, and of their own account.
    Resumes after `Last-Event-ID` (sent by `EventSource` on reconnect) or `?after=`; with
    neither, from now. Ends with `event: revoked` when the token stops working."""
    state = call.state
    cursor = after if last_event_id is None else parse_last_event_id(last_event_id)
    try:
        subscription = state.hub.subscribe(
            f"agent:{call.account.id}", client_network(request), every_event=True
        )
    except TooManyStreams as exc:
        raise ApiError(
            429, "rate_limited", str(exc), headers={"Retry-After": str(exc.retry_after_s)}
        ) from None
    try:
        if cursor is None:
            cursor = await state.call(state.desk.last_event_id)
    except BaseException:
        state.hub.unsubscribe(subscription)
        raise
    return EventStream(
        _stream(state, request, subscription, call.account, cursor),
        on_close=lambda: state.hub.unsubscribe(subscription),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
    )


def _data(event: Event, **more: Any) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "at": iso(event.at),
        "conversationId": event.conversation_id,
        "itemId": event.item_id,
        "profileId": event.profile_id,
        "agentId": event.agent_id,
        **more,
    }


async def _frames(
    state: WebState, account: AgentAccount, batch: list[Event], shown: OrderedDict[int, None]
) -> list[bytes]:
    """The frames of one batch of change-feed rows for this agent."""
    access = state.engine.agent_access
    scope = await state.call(access.scope, account)
    wanted = {e.conversation_id for e in batch if e.conversation_id is not None}
    visible = await state.call(access.visible_conversations, scope, wanted)
    frames = []
    for event in batch:
        conversation_id = event.conversation_id
        if conversation_id is None:
            if access.concerns(scope, event):
                frames.append(sse_frame(event.kind, _data(event, agent=account.handle), event.id))
        elif conversation_id in visible:
            shown[conversation_id] = None
            shown.move_to_end(conversation_id)
            while len(shown) > MAX_SHOWN:
                shown.popitem(last=False)
            frames.append(sse_frame(event.kind, _data(event), event.id))
        elif conversation_id in shown:
            del shown[conversation_id]
            # It was shown on this stream and is no longer the agent's to see (transferred,
            # taken by a colleague): say so once, with nothing else about it.
            data = {
                "id": event.id,
                "kind": "conversation.hidden",
                "conversationId": conversation_id,
            }
            frames.append(sse_frame("conversation.hidden", data, event.id))
    return frames


async def _stream(
    state: WebState,
    request: Request,
    subscription: Subscription,
    account: AgentAccount,
    cursor: int,
) -> AsyncIterator[bytes]:
    shown: OrderedDict[int, None] = OrderedDict()
    async with watching_disconnect(request, subscription.wake) as gone:
        yield f"retry: {RETRY_MS}\n\n".encode()
        while not gone.is_set():
            subscription.wake.clear()
            try:
                current = await state.call(agent_still_signed_in, state.desk, account)
                if current is not None:
                    batch = await state.call(state.desk.events_after, cursor, BATCH)
                    frames = await _frames(state, current, batch, shown)
            except StoreUnavailable:  # the database is away: keep the stream, read again
                yield KEEPALIVE
                await outage_pause(subscription.wake)
                continue
            if current is None:
                reason = "this agent token was revoked or replaced; sign in with a new one"
                yield sse_frame("revoked", {"detail": reason})
                return
            account = current
            for frame in frames:
                yield frame
            if batch:
                cursor = batch[-1].id
            if len(batch) >= BATCH:
                continue
            keepalive = await wait_or_keepalive(subscription.wake)
            if keepalive is not None:
                yield keepalive
