"""The admin REST API for a site's backend: Basic auth with an API user's email and token, or
an admin agent's personal access token as Bearer (docs/agent-api.md#permissions).

`POST /api/v1/user-identity-jwt` mints a desk-signed User Identity JWT for a customer the site
has logged in; the reads let the site look customers and conversations up, read the
authentication report and the token audit (`GET /api/v1/audit`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from core.clock import iso
from core.contacts import normalize_email, normalize_phone
from core.errors import DeskError, NotFound
from core.models import TimelineItem
from core.web.auth import ADMIN_UNAUTHORIZED, agent_of, api_user_of, bearer_token
from core.web.errors import ApiError, api_error_from_desk
from core.web.state import WebState, web_state

router = APIRouter(prefix="/api/v1", tags=["admin"])

MAX_ID = 2**63 - 1
#: Lifetime of tokens minted for a site's backend (seconds).
MINTED_TTL_S = 600


class IdentityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    identityType: Literal["EMAIL", "MOBILE_PHONE_NUMBER"]
    identity: str = Field(max_length=1000)
    #: The app the token is for; may be left out when the desk has one app.
    appId: str | None = Field(default=None, max_length=100)


class TokenOut(BaseModel):
    token: str


class ProfileOut(BaseModel):
    id: int
    name: str
    emails: list[str]
    phoneNumbers: list[str]


class ItemOut(BaseModel):
    id: int
    conversationId: int
    type: str
    sender: str
    event: str | None
    body: str
    timestamp: str | None
    trusted: bool | None
    glyph: str | None
    agent: str | None


class ClaimedOut(BaseModel):
    state: str
    profileId: int
    name: str | None
    email: str | None
    phone: str | None


class RejectionOut(BaseModel):
    id: int
    at: str | None
    code: str
    kid: str | None
    appId: str | None
    sessionId: str | None
    origin: str
    detail: str
    clientAddress: str | None
    claimed: ClaimedOut | None


class AuditOut(BaseModel):
    rejections: list[RejectionOut]
    #: Pass as `?cursor=` for the next, older page; null on the last page.
    nextCursor: str | None


BASIC: dict[str, Any] = {"security": [{"apiUser": []}, {"agentToken": []}]}


async def api_user(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> WebState:
    """Basic auth: the API user's email and the token `gladdesk api-users add` printed; or
    Bearer: the token of an agent whose role is admin (`gladdesk agents token`)."""
    if bearer_token(authorization) is None:
        await api_user_of(request, authorization)
        return web_state(request)
    account = await agent_of(request, challenge=ADMIN_UNAUTHORIZED)
    if not account.admin:
        raise ApiError(
            403,
            "forbidden",
            f"agent {account.handle!r} is not an admin; the admin API takes an admin agent's"
            " token or an API user's Basic credentials",
        )
    return web_state(request)


ApiUser = Annotated[WebState, Depends(api_user)]


@router.post(
    "/user-identity-jwt",
    response_model=TokenOut,
    openapi_extra=BASIC,
    responses={400: {"description": "bad identity"}, 401: {"description": "bad credentials"}},
)
async def user_identity_jwt(state: ApiUser, payload: IdentityRequest) -> TokenOut:
    """A desk-signed User Identity JWT for one customer, for the site to pass to `setUser`."""

    def mint() -> str:
        keyring = state.engine.keyring
        try:
            app_id = keyring.resolve_app(payload.appId)
        except DeskError as exc:
            raise api_error_from_desk(exc, attr="appId") from None
        if payload.identityType == "EMAIL":
            return keyring.mint(
                email=normalize_email(payload.identity), ttl_s=MINTED_TTL_S, app_id=app_id
            )
        return keyring.mint(
            phone=normalize_phone(payload.identity), ttl_s=MINTED_TTL_S, app_id=app_id
        )

    try:
        token = await state.call(mint)
    except DeskError as exc:
        raise api_error_from_desk(exc, attr="identity") from None
    return TokenOut(token=token)


@router.get("/customer-profiles", response_model=list[ProfileOut], openapi_extra=BASIC)
async def customer_profiles(
    state: ApiUser,
    email: Annotated[str | None, Query(max_length=1000)] = None,
    phoneNumber: Annotated[str | None, Query(max_length=1000)] = None,  # noqa: N803
) -> list[ProfileOut]:
    """The customer profile owning an email or a phone number (E.164): exactly one of them."""
    if (email is None) == (phoneNumber is None):
        raise ApiError(400, "invalid", "give exactly one of ?email= or ?phoneNumber=", attr="email")
    attr = "email" if email is not None else "phoneNumber"

    def find() -> list[ProfileOut]:
        contact = normalize_email(email) if email is not None else normalize_phone(phoneNumber)
        try:
            profile = state.engine.find_profile(contact)
        except NotFound:
            return []
        return [
            ProfileOut(
                id=profile.id,
                name=profile.name,
                emails=list(profile.emails),
                phoneNumbers=list(profile.phones),
            )
        ]

    try:
        return await state.call(find)  # type: ignore[no-any-return]
    except DeskError as exc:
        raise api_error_from_desk(exc, attr=attr) from None


@router.get(
    "/conversations/{conversation_id}/items", response_model=list[ItemOut], openapi_extra=BASIC
)
async def conversation_items(
    state: ApiUser, conversation_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> list[ItemOut]:
    """A conversation's timeline; each customer message carries its stored `trusted` flag."""
    try:
        items = await state.call(state.engine.timeline, conversation_id)
    except DeskError as exc:
        raise api_error_from_desk(exc, attr="conversation_id") from None
    return [item_out(item) for item in items]


def item_out(item: TimelineItem) -> ItemOut:
    return ItemOut(
        id=item.id,
        conversationId=item.conversation_id,
        type=item.type,
        sender=item.sender,
        event=item.event,
        body=item.body,
        timestamp=iso(item.at),
        trusted=item.trusted,
        glyph=item.glyph,
        agent=item.agent,
    )


@router.get("/reports/authentication", openapi_extra=BASIC)
async def authentication_report(
    state: ApiUser,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """The authentication report (docs/reports.md) as JSON: `?since=YYYY-MM-DD&until=YYYY-MM-DD`."""
    return await report_answer(state, since, until)


async def report_answer(state: WebState, since: str | None, until: str | None) -> dict[str, Any]:
    """The authentication report as the admin and agent APIs answer it."""
    from core.report import report_json

    try:
        # A whole-desk scan: off the event loop, on the reader's connection (requests on the
        # desk's own do not wait behind it).
        return await state.scan(report_json, since=since, until=until)  # type: ignore[no-any-return]
    except DeskError as exc:
        # The message names the bad day first (`until: ...`); a bad range is about `since`.
        attr = "until" if str(exc).startswith("until") else "since"
        raise api_error_from_desk(exc, attr=attr) from None


@router.get(
    "/audit",
    response_model=AuditOut,
    openapi_extra=BASIC,
    responses={400: {"description": "bad filter"}, 401: {"description": "bad credentials"}},
)
async def token_audit(
    state: ApiUser,
    since: Annotated[str | None, Query(max_length=40)] = None,
    code: Annotated[str | None, Query(max_length=40)] = None,
    session: Annotated[str | None, Query(max_length=100)] = None,
    app: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, description="at most 500; more is cut to 500")] = 50,
) -> dict[str, Any]:
    """Rejected identity tokens, newest first (docs/trust-model.md#the-token-audit): code, key
    id, time, app, session and who the session claimed to be; never the token.
    `?since=` a day, a UTC time or a duration (15m, 2h, 7d); `?code=`, `?session=`, `?app=`;
    `?cursor=` the `nextCursor` of the page before."""
    from core.report.audit import AuditError, audit_entry_dict, audit_filter, audit_page

    def read() -> dict[str, Any]:
        wanted = audit_filter(state.desk, since=since, code=code, session=session, app=app)
        page = audit_page(state.desk, wanted, cursor=cursor, limit=limit)
        return {
            "rejections": [audit_entry_dict(entry) for entry in page.entries],
            "nextCursor": page.next_cursor,
        }

    from starlette.concurrency import run_in_threadpool

    try:
        # A filter may walk much of the table: off the event loop, like the report.
        return await run_in_threadpool(read)
    except AuditError as exc:
        raise ApiError(400, exc.code, exc.reason, attr=exc.attr) from None
