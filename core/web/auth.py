"""Who is calling: a widget session (Bearer token), an API user (Basic credentials) or an
agent (Bearer personal access token, `agent_of`).

A right credential is accepted even from an address that has failed many times: checking
one is cheap (a hash, an indexed lookup, a constant-time compare), so it is checked first,
and only a missing or wrong one is refused with 429 once its address (or, for Basic, its
user) has failed too often. The limits slow the guessing, not the owner; the secrets are
256-bit random, so what they bound is the work a guesser makes the server do.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import Request

from core.engine.text import hash_token
from core.errors import NotFound
from core.identity.agent_tokens import MAX_AGENT_TOKEN_CHARS, agent_for_token
from core.identity.api_users import check_api_user
from core.models import SessionView
from core.store.agent_accounts import AgentAccount
from core.web.errors import ApiError
from core.web.limits import FailureLimiter
from core.web.state import KnownToken, WebState, client_network, origin_allowed, web_state

#: Longest widget session token looked at.
MAX_TOKEN_CHARS = 200
#: Longest `Authorization` header parsed for Basic credentials, and longest email counted.
MAX_BASIC_CHARS = 1000
MAX_EMAIL_CHARS = 320
UNAUTHORIZED = {"WWW-Authenticate": 'Basic realm="gladdesk"'}


def refuse_failure(
    limiter: FailureLimiter, keys: list[str], what: str, *, attr: str | None = None
) -> None:
    """Count one failed authentication against each key, or, when one of them already has
    too many, answer 429 (not counted again: a blocked key gets its tries back in time)."""
    wait = max(limiter.retry_after(key) for key in keys)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"too many {what}; retry in {wait} s",
            attr=attr,
            headers={"Retry-After": str(wait)},
        )
    for key in keys:
        limiter.fail(key)


# -- widget sessions --------------------------------------------------------------------------


class WidgetAuth:
    """The authenticated widget session of a request, and where the request came from."""

    def __init__(self, state: WebState, known: KnownToken, network: str) -> None:
        self.state = state
        self.session_id = known.session_id
        self.app_id = known.app_id
        #: Started by an API user: the flood budgets do not count it.
        self.exempt = known.exempt
        #: The client address as the limits count it (`client_network`).
        self.network = network


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def _known_token(state: WebState, token: str) -> KnownToken | None:
    known = state.tokens.get(token)
    if known is not None:
        return known
    try:
        session_id = await state.call(state.engine.session_for_token, token)
        view: SessionView = await state.call(state.engine.session, session_id)
    except NotFound:
        return None
    known = KnownToken(session_id, view.app_id, exempt=view.api_user is not None)
    state.remember_token(token, known)
    return known


async def authenticate(request: Request, token: str | None) -> WidgetAuth:
    """The session `token` opens; a wrong or missing one is 401, or 429 from an address that
    sent too many of them."""
    state = web_state(request)
    network = client_network(request)
    known = None
    if token and len(token) <= MAX_TOKEN_CHARS:
        known = await _known_token(state, token)
    if known is None:
        refuse_failure(
            state.bearer_failures,
            ["addr:" + network],
            "bad session tokens from this address",
            attr="token",
        )
        if not token:
            detail = "missing session token: send Authorization: Bearer <token> from init"
        else:
            detail = "unknown widget session token; call init again"
        raise ApiError(401, "unauthorized", detail, attr="token")
    if not origin_allowed(request, state, known.app_id):
        raise ApiError(
            403,
            "origin_not_allowed",
            f"origin {request.headers.get('origin', '')[:100]!r} may not use app {known.app_id!r}",
        )
    return WidgetAuth(state, known, network)


async def widget_auth(request: Request) -> WidgetAuth:
    """Authenticate from the Authorization header (read directly: the hot path stays lean)."""
    return await authenticate(request, bearer_token(request.headers.get("authorization")))


#: How the OpenAPI document describes the widget's bearer token.
BEARER: dict[str, Any] = {"security": [{"widgetSession": []}]}


# -- API users --------------------------------------------------------------------------------


def basic_credentials(authorization: str | None) -> tuple[str | None, str | None]:
    """(email, token) of `Authorization: Basic ...`; (None, None) when it is not that."""
    if not authorization or len(authorization) > MAX_BASIC_CHARS:
        return None, None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None, None
    email, sep, token = decoded.partition(":")
    return (email, token) if sep else (None, None)


async def api_user_of(request: Request, authorization: str | None) -> str:
    """The API user (their email, lowercased) whose Basic credentials the request carries;
    401 when they are missing or wrong, 429 for wrong ones from an address or for a user
    that failed too often."""
    state = web_state(request)
    email, token = basic_credentials(authorization)
    if (
        email is not None
        and token is not None
        and await state.call(check_api_user, state.desk, email, token)
    ):
        return email.strip().lower()
    keys = ["addr:" + client_network(request)]
    if email:
        keys.append("user:" + email.strip().lower()[:MAX_EMAIL_CHARS])
    refuse_failure(state.basic_failures, keys, "failed logins from this address or for this user")
    raise ApiError(
        401,
        "unauthorized",
        "Basic auth with an API user's email and API token required"
        " (create one: gladdesk api-users add EMAIL)",
        headers=UNAUTHORIZED,
    )


# -- agents (the agent API, docs/agent-api.md) ------------------------------------------------

AGENT_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="gladdesk agents"'}
#: The admin API takes either: an API user's Basic credentials or an admin agent's token.
ADMIN_UNAUTHORIZED = {
    "WWW-Authenticate": UNAUTHORIZED["WWW-Authenticate"] + ', Bearer realm="gladdesk agents"'
}


async def agent_of(
    request: Request, *, challenge: dict[str, str] = AGENT_UNAUTHORIZED
) -> AgentAccount:
    """The enabled agent whose personal access token the request carries as `Authorization:
    Bearer`, read from the desk for this request (a token revoked a moment ago is refused).
    401 when it is missing, unknown or revoked; 429 once this address, or this same wrong
    token, failed too often (counted with the admin API's failed logins). A right token is
    checked before any limit, so it is never locked out."""
    state = web_state(request)
    token = bearer_token(request.headers.get("authorization"))
    account = None
    if token is not None:
        account = await state.call(agent_for_token, state.desk, token)
    if account is not None:
        return account
    keys = ["addr:" + client_network(request)]
    if token is not None:
        keys.append("token:" + hash_token(token[:MAX_AGENT_TOKEN_CHARS])[:32])
    refuse_failure(state.basic_failures, keys, "failed logins from this address or with this token")
    detail = (
        "missing agent token: send Authorization: Bearer <token> (gladdesk agents token HANDLE)"
        if token is None
        else "unknown or revoked agent token; ask for a new one: gladdesk agents token HANDLE"
    )
    raise ApiError(401, "unauthorized", detail, headers=challenge)
