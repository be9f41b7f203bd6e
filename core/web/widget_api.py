"""The widget API: what `widget.js` calls. Every call but `init` carries the session token.

Tokens come as `Authorization: Bearer <token>` (or `?token=` on the event stream, since
`EventSource` cannot set headers). After `clear_user` the engine no longer lets the session
reach the previous customer's conversation; this layer only authenticates and translates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from core.clock import iso
from core.engine import render
from core.errors import DeskError, NotFound, StoreUnavailable
from core.models import SessionView
from core.web.auth import (
    BEARER,
    MAX_TOKEN_CHARS,
    WidgetAuth,
    api_user_of,
    authenticate,
    refuse_failure,
    widget_auth,
)
from core.web.auth import bearer_token as _bearer
from core.web.errors import ApiError, api_error_from_desk
from core.web.hub import Subscription, TooManyStreams
from core.web.shedding import stream_key
from core.web.site_keys import await_jwks_fetches
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
from core.web.state import (
    KnownToken,
    WebState,
    client_address,
    client_network,
    origin_allowed,
    web_state,
)

router = APIRouter(prefix="/widget/v1", tags=["widget"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class InitRequest(Strict):
    app_id: str = Field(alias="appId", min_length=1, max_length=100)


class InitResponse(BaseModel):
    token: str
    appId: str
    storeName: str
    firstMessage: str
    onboardingRequired: bool
    onboardingIdentity: str
    cursor: int


class SessionOut(BaseModel):
    appId: str
    storeName: str
    identityState: str
    identitySource: str
    name: str | None
    firstName: str
    greeting: str | None
    firstMessage: str
    onboardingRequired: bool
    onboardingIdentity: str
    trustedUntil: str | None
    conversationId: int | None
    ended: bool


class OnboardingRequest(Strict):
    name: str = Field(max_length=1000)
    email: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(default=None, max_length=1000)


class SetUserRequest(Strict):
    name: str | None = Field(default=None, max_length=1000)
    email: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(default=None, max_length=1000)
    #: No max_length: the body limit bounds it, and the verifier refuses (and audits) a token
    #: over its size limit as `too_large`.
    jwt: str | None = None


class MessageRequest(Strict):
    body: str


class MessageOut(BaseModel):
    id: int
    conversationId: int
    trusted: bool
    newConversation: bool


class TimelineMessage(BaseModel):
    id: int
    sender: str
    body: str
    at: str | None


class MessagesOut(BaseModel):
    messages: list[TimelineMessage]
    cursor: int


async def _run(state: WebState, fn: Any, *args: Any, attr: str | None = None, **kwargs: Any) -> Any:
    try:
        return await state.call(fn, *args, **kwargs)
    except DeskError as exc:
        raise api_error_from_desk(exc, attr=attr) from None
    finally:
        state.hub.poke()


def _session_out(state: WebState, view: SessionView) -> SessionOut:
    """Build the answer; runs in the worker thread (it may read the app row)."""
    app = state.engine.app(view.app_id)
    return SessionOut(
        appId=view.app_id,
        storeName=app["store_name"],
        identityState=view.identity_state,
        identitySource=view.identity_source,
        name=view.name,
        firstName=view.first_name,
        greeting=view.greeting,
        firstMessage=render(
            app["first_message"],
            login_url=app["login_url"],
            signup_url=app["signup_url"],
            first_name=view.first_name,
            store_name=app["store_name"],
        ),
        onboardingRequired=view.onboarding_required,
        onboardingIdentity=app["onboarding_identity"],
        trustedUntil=iso(view.trusted_until),
        conversationId=view.conversation_id,
        ended=view.ended,
    )


async def _session_call(
    state: WebState, fn: Any, *args: Any, attr: str | None = None, **kwargs: Any
) -> SessionOut:
    """Run an engine call that returns a SessionView and translate it, off the event loop."""
    return await _run(state, lambda: _session_out(state, fn(*args, **kwargs)), attr=attr)  # type: ignore[no-any-return]


# -- routes -----------------------------------------------------------------------------------


def _spend(state: WebState, kind: str, app_id: str, network: str) -> None:
    """Spend one of the app's `kind` budget for this address (`RateLimited` when spent); runs
    where the desk calls run (it may read the app row)."""
    state.budgets.take(kind, state.engine.app(app_id), network)


@router.post(
    "/sessions",
    status_code=201,
    response_model=InitResponse,
    responses={429: {"description": "too many new sessions from this address or on this app"}},
)
async def init_session(request: Request, payload: InitRequest) -> InitResponse:
    """Open a widget session for an app: the token, first message and onboarding need.

    With an API user's Basic credentials (a site's backend, `gladdesk feed --url`), the
    session is not counted against the app's flood budgets.
    """
    state = web_state(request)
    if not origin_allowed(request, state, payload.app_id):
        raise ApiError(
            403,
            "origin_not_allowed",
            f"origin {request.headers.get('origin', '')[:100]!r} may not use app"
            f" {payload.app_id!r}; add it to the app's allowed origins",
            attr="appId",
        )
    authorization = request.headers.get("authorization")
    api_user = None
    if authorization is not None and authorization[:6].lower() == "basic ":
        api_user = await api_user_of(request, authorization)
    network = client_network(request)

    def start_session() -> tuple[int, Any, str]:
        cursor = state.desk.last_event_id()
        try:
            if api_user is None:
                _spend(state, "sessions", payload.app_id, network)
            start = state.engine.init_session(
                payload.app_id, client_address=client_address(request), api_user=api_user
            )
        except NotFound:
            # Said without the list of known apps the CLI would print: this is the public side.
            raise NotFound(f"app {payload.app_id[:100]!r} is not configured") from None
        return cursor, start, state.engine.app(start.app_id)["store_name"]

    cursor, start, store_name = await _run(state, start_session, attr="appId")
    state.remember_token(
        start.token, KnownToken(start.session_id, start.app_id, exempt=api_user is not None)
    )
    return InitResponse(
        token=start.token,
        appId=start.app_id,
        storeName=store_name,
        firstMessage=start.first_message,
        onboardingRequired=start.onboarding_required,
        onboardingIdentity=start.onboarding_identity,
        cursor=cursor,
    )


@router.get("/session", response_model=SessionOut, openapi_extra=BEARER)
async def get_session(request: Request) -> SessionOut:
    """The session's identity state, greeting and current conversation."""
    auth = await widget_auth(request)
    return await _session_call(auth.state, auth.state.engine.session, auth.session_id)


@router.delete("/session", status_code=204, openapi_extra=BEARER)
async def end_session(request: Request) -> Response:
    """End the session: its token stops working for everything."""
    auth = await widget_auth(request)
    await _run(auth.state, auth.state.engine.end_session, auth.session_id)
    return Response(status_code=204)


async def _identify(auth: WidgetAuth, fn: Any, **kwargs: Any) -> SessionOut:
    """An identification (onboarding, setUser with claims), after spending its budget."""
    state = auth.state

    def identify() -> SessionOut:
        if not auth.exempt:
            _spend(state, "identifications", auth.app_id, auth.network)
        return _session_out(state, fn(auth.session_id, **kwargs))

    return await _run(state, identify)  # type: ignore[no-any-return]


@router.post("/onboarding", response_model=SessionOut, openapi_extra=BEARER)
async def submit_onboarding(request: Request, payload: OnboardingRequest) -> SessionOut:
    """The onboarding form: name plus email or phone. The identity is claimed."""
    auth = await widget_auth(request)
    return await _identify(
        auth,
        auth.state.engine.submit_onboarding,
        name=payload.name,
        email=payload.email,
        phone=payload.phone,
    )


@router.put("/user", response_model=SessionOut, openapi_extra=BEARER)
async def set_user(request: Request, payload: SetUserRequest) -> SessionOut:
    """`setUser`: `{jwt}` makes the session trusted; `{name, email|phone}` makes it claimed."""
    auth = await widget_auth(request)
    state = auth.state
    if payload.jwt is None:
        return await _identify(
            auth, state.engine.set_user, name=payload.name, email=payload.email, phone=payload.phone
        )
    if payload.email is not None or payload.phone is not None:
        raise ApiError(
            400,
            "invalid",
            "give either a jwt or an email/phone, not both: the token's claims are the identity",
            attr="jwt",
        )
    # A session that sent too many rejected tokens is refused before its next one is looked
    # at; an address only has its wrong tokens refused (a right one from it still counts).
    session_key = "session:" + auth.session_id
    wait = state.jwt_session_failures.retry_after(session_key)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"too many rejected identity tokens from this session; retry in {wait} s",
            attr="jwt",
            headers={"Retry-After": str(wait)},
        )
    await await_jwks_fetches(state, payload.jwt)
    try:
        return await _identify(auth, state.engine.set_user, name=payload.name, jwt=payload.jwt)
    except ApiError as error:
        if error.status == 400:
            state.jwt_session_failures.fail(session_key)
            refuse_failure(
                state.jwt_address_failures,
                ["addr:" + auth.network],
                "rejected identity tokens from this address",
                attr="jwt",
            )
            error.attr = "jwt" if error.attr != "name" else "name"
        raise


@router.delete("/user", response_model=SessionOut, openapi_extra=BEARER)
async def clear_user(request: Request) -> SessionOut:
    """`clearUser` on logout: back to anonymous, cut off from the previous conversation."""
    auth = await widget_auth(request)
    return await _session_call(auth.state, auth.state.engine.clear_user, auth.session_id)


@router.post("/messages", status_code=201, response_model=MessageOut, openapi_extra=BEARER)
async def send_message(request: Request, payload: MessageRequest) -> MessageOut:
    """A customer message; `trusted` is decided now and never changes."""
    auth = await widget_auth(request)
    state = auth.state

    def admit() -> None:
        if not auth.exempt:
            _spend(state, "conversations", auth.app_id, auth.network)

    sent = await _run(
        state, state.engine.send_message, auth.session_id, payload.body, attr="body", admit=admit
    )
    # The hot path: answer directly rather than through response-model validation.
    return JSONResponse(  # type: ignore[return-value]
        {
            "id": sent.item_id,
            "conversationId": sent.conversation_id,
            "trusted": sent.trusted,
            "newConversation": sent.new_conversation,
        },
        status_code=201,
    )


@router.get("/messages", response_model=MessagesOut, openapi_extra=BEARER)
async def list_messages(request: Request) -> MessagesOut:
    """The current conversation's messages, and the cursor to stream from after them."""
    auth = await widget_auth(request)
    state = auth.state

    def read() -> tuple[int, list[Any]]:
        with state.desk.reading():
            return state.desk.last_event_id(), state.engine.session_timeline(auth.session_id)

    cursor, items = await _run(state, read)
    return MessagesOut(
        messages=[
            TimelineMessage(id=item.id, sender=item.sender, body=item.body, at=iso(item.at))
            for item in items
        ],
        cursor=cursor,
    )


@router.get(
    "/events",
    response_class=StreamingResponse,
    openapi_extra=BEARER,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    request: Request,
    token: Annotated[str | None, Query(max_length=MAX_TOKEN_CHARS)] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID)] = None,
    authorization: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
) -> StreamingResponse:
    """Server-sent events for the widget: `message:received`, `conversation:started`,
    `conversation:ended`, `identity:expired`, `availability:change`.

    Resumes after `Last-Event-ID` (sent by `EventSource` on reconnect) or `?after=`.
    """
    auth = await authenticate(request, _bearer(authorization) or token)
    state = auth.state
    cursor = after if last_event_id is None else parse_last_event_id(last_event_id)
    # The caps and budgets before any read, so that a reconnect loop refused costs no read.
    try:
        subscription = state.hub.subscribe(auth.session_id, auth.network)
    except TooManyStreams as exc:
        if exc.budget:  # spent until it refills: answer that before routing meanwhile
            who = auth.session_id if exc.scope == "session" else auth.network
            state.refusals.hold(stream_key(exc.scope, who), exc.wait_s, exc.reason)
        raise ApiError(
            429, "rate_limited", str(exc), headers={"Retry-After": str(exc.retry_after_s)}
        ) from None
    try:
        if cursor is None:
            cursor = await state.call(state.desk.last_event_id)
        # Fail now (409 for an ended session) rather than inside the stream.
        view = await _run(state, state.engine.session, auth.session_id)
        if view.ended:
            raise ApiError(409, "conflict", "this widget session has ended; call init again")
    except BaseException:
        state.hub.unsubscribe(subscription)
        raise
    return EventStream(
        _stream(state, request, subscription, cursor),
        on_close=lambda: state.hub.unsubscribe(subscription),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
    )


async def _stream(
    state: WebState, request: Request, subscription: Subscription, cursor: int
) -> AsyncIterator[bytes]:
    session_id = subscription.session_id
    sent_availability: bool | None = None
    async with watching_disconnect(request, subscription.wake) as gone:
        yield f"retry: {RETRY_MS}\n\n".encode()
        while not gone.is_set():
            subscription.wake.clear()
            try:
                batch = await state.call(state.engine.widget_events, session_id, after=cursor)
                view = await state.call(state.engine.session, session_id)
            except StoreUnavailable:  # the database is away: keep the stream, read again
                yield KEEPALIVE
                await outage_pause(subscription.wake)
                continue
            except DeskError:
                return  # the session ended: the stream ends with it
            # The hub wakes this stream for its session's events and its conversation's. When
            # the conversation changed, an event of the new one may have gone by unnoticed
            # while this read ran: read once more before waiting.
            moved = view.conversation_id != subscription.conversation_id
            subscription.conversation_id = view.conversation_id
            for event in batch:
                cursor = event.id
                yield sse_frame(event.kind, event.data, event.id)
            if view.ended:
                return
            if state.hub.available is not None and state.hub.available != sent_availability:
                sent_availability = state.hub.available
                yield sse_frame("availability:change", {"available": sent_availability})
            if len(batch) >= 200 or moved:
                continue
            keepalive = await wait_or_keepalive(subscription.wake)
            if keepalive is not None:
                yield keepalive
