"""Refusals repeated before routing: a loop that keeps opening event streams after its 429
is answered from memory, without the cost of routing, validation and authentication.

When `GET /widget/v1/events` is refused because a budget of stream opens is spent (a widget
session's or a client address's, core/web/hub.py), the route holds that refusal here until
the budget has a token again. Until then, `Shedding` answers the same call for that session
or from that address at once with the same 429 and the `Retry-After` left. It only repeats
answers the route would give anyway: those budgets are counted by exactly what it keys on
(the client's network; the session a bearer token is already known to open) and a hold ends
when the budget refills. Answers that depend on a credential (wrong tokens, wrong logins) are
never held: a right one must always get through. The other budgets are per app, which the
raw request does not show, so their refusals go through the route.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from core.addresses import address_group
from core.web.auth import bearer_token
from core.web.limits import Refusals, refuse

#: The call whose budget refusals are held.
HELD_CALL = ("GET", "/widget/v1/events")


def stream_key(scope: str, who: str) -> str:
    """The key a refused event stream is held under: `scope` as `TooManyStreams` names it
    (`session` or `address`), `who` the session id or the client's network."""
    return f"streams {scope}:{who}"


class Shedding:
    """ASGI middleware: answer held refusals (see `Refusals`) before the app sees the call.

    `sessions_of(token)` says which widget session a bearer token opens when the server
    already knows it (from memory, never a read), or None.
    """

    def __init__(
        self, app: ASGIApp, refusals: Refusals, sessions_of: Callable[[str], str | None]
    ) -> None:
        self.app = app
        self.refusals = refusals
        self.sessions_of = sessions_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["method"], scope["path"]) == HELD_CALL:
            for key in self._keys(scope):
                held = self.refusals.held(key)
                if held is not None:
                    left, reason = held
                    retry_after = max(1, int(left + 0.999))
                    detail = f"{reason}; retry in {retry_after} s"
                    headers = [(b"retry-after", str(retry_after).encode())]
                    await refuse(send, 429, "rate_limited", detail, headers=headers)
                    return
        await self.app(scope, receive, send)

    def _keys(self, scope: Scope) -> list[str]:
        client = scope.get("client")
        network = address_group(client[0] if client else None) or "unknown"
        authorization = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
        )
        # As the route reads it: the Bearer header, else `?token=`.
        token = bearer_token(authorization)
        if token is None:
            query = scope.get("query_string", b"").decode("latin-1")
            token = next((v for k, v in parse_qsl(query) if k == "token"), None)
        session_id = self.sessions_of(token) if token else None
        keys = [stream_key("address", network)]
        return keys if session_id is None else [stream_key("session", session_id), *keys]
