"""Simulated customers over HTTP: `HttpWidget` drives a running gladdesk server as a widget would.

It speaks the widget API (`/widget/v1/...`, Bearer session token) for everything a customer
does, and the admin API (`POST /api/v1/user-identity-jwt`, Basic auth of an API user) for the
login tokens a site's backend would mint. With API credentials it starts sessions with them
too, so the server's flood budgets do not count its customers. One keep-alive
`httpx.Client` carries every call.

It is the HTTP implementation of `sim.widget_client.WidgetClient`. Agents do not act through
the widget API, so over HTTP `ScriptRun` skips agent steps. The server keeps its own clock and
runs its own timers: a fast (virtual-time) run does not wait, so a script whose expectations
hinge on a long wait (a trust window lapsing) needs real-time pacing (`needs_real_time`).

httpx is imported inside functions, so importing this module (and `gladdesk --help`) stays light.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Unpack
from urllib.parse import urlsplit

from core.errors import DeskError
from core.models import SentMessage, SessionStart
from sim.scenarios import Scenario
from sim.widget_client import Claims, UserFields

if TYPE_CHECKING:
    import httpx

    from core.engine import Engine

#: The demo desk's app (fixtures/desk.toml): what `--app` defaults to.
DEFAULT_APP_ID = "retale"
TIMEOUT_S = 10.0
#: A wait this long (seconds) only means something if the server's clock lives through it:
#: trust windows and token lifetimes run in minutes.
LONG_WAIT_S = 600.0
_PROBE_EMAIL = "feed-probe@example.com"


class HttpRefused(DeskError):
    """The server answered with its error envelope: the step failed, nothing changed."""

    def __init__(self, status: int, code: str, detail: str, attr: str | None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.attr = attr


class SimulationAborted(Exception):
    """The simulated customers cannot go on: the server is unreachable, or not a gladdesk
    server.

    Not a `DeskError` on purpose: a script run records desk errors per step and moves on;
    this one has to stop every customer.
    """


def check_url(url: str) -> str:
    """`http(s)://host[:port][/prefix]` without a trailing slash; DeskError otherwise."""
    if not isinstance(url, str) or len(url) > 2000 or not url.isprintable() or " " in url:
        raise DeskError("url: expected http://HOST:PORT")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise DeskError(f"url {url[:100]!r}: not a valid URL (expected http://HOST:PORT)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeskError(f"url {url[:100]!r}: expected http://HOST:PORT or https://HOST")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise DeskError(f"url {url[:100]!r}: give the server's address only (no ?query, #, user)")
    return url.rstrip("/")


def needs_tokens(scenario: Scenario) -> bool:
    """Whether the script logs in or presents a tampered token: it needs API credentials."""
    return any(
        step.action == "login"
        or (step.action == "open" and "login_as" in step.params)
        or (step.action == "bad_token" and step.params["kind"] == "tampered")
        for step in scenario.steps
    )


def needs_real_time(scenario: Scenario) -> bool:
    """Whether a script waits long enough that only real-time pacing can play it over HTTP."""
    return any(
        step.action == "wait" and float(step.params["seconds"]) >= LONG_WAIT_S
        for step in scenario.steps
    )


class HttpWidget:
    """`sim.widget_client.WidgetClient` over HTTP: a session is known by its bearer token."""

    def __init__(
        self,
        url: str,
        *,
        api_user: str | None = None,
        api_token: str | None = None,
        app_id: str = DEFAULT_APP_ID,
        timeout_s: float = TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        self.url = check_url(url)
        self.app_id = app_id
        self._auth = (api_user, api_token) if api_user and api_token else None
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            headers={"User-Agent": "gladdesk-feed", "Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
        )
        self.requests = 0

    @property
    def agents(self) -> Engine | None:
        """None: agents do not act through the widget API."""
        return None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpWidget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        admin: bool = False,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        keys: tuple[str, ...] = (),
    ) -> Any:
        """One request; its JSON (an object holding `keys`), None for 204. Refusals raise
        HttpRefused; an answer gladdesk would not give raises SimulationAborted."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        auth = self._auth if admin else None
        response = self._send(method, path, json=body, params=params, headers=headers, auth=auth)
        self.requests += 1
        if response.status_code == 204:
            return None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code < 400:
            if isinstance(data, dict) and all(key in data for key in keys):
                return data
            if isinstance(data, list) and not keys:
                return data
            raise SimulationAborted(
                f"{self.url} answered {method} {path} with HTTP {response.status_code} but not"
                " as gladdesk does: is it a gladdesk server (gladdesk serve)?"
            )
        errors = data.get("errors") if isinstance(data, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else None
        if not isinstance(first, dict) or not isinstance(first.get("code"), str):
            raise SimulationAborted(
                f"{self.url} answered {method} {path} with HTTP {response.status_code} and no"
                " gladdesk error: is it a gladdesk server (gladdesk serve)?"
            )
        attr = first.get("attr")
        detail = str(first.get("detail") or first["code"])[:500]
        raise HttpRefused(
            response.status_code, first["code"], detail, attr if isinstance(attr, str) else None
        )

    def check(self, *, need_tokens: bool) -> None:
        """Before any customer: the server answers as gladdesk, and takes the API credentials."""
        health = self._http_probe("/healthz")
        if health != {"status": "ok"}:
            raise SimulationAborted(
                f"{self.url} does not look like a gladdesk server (GET /healthz did not"
                ' answer {"status": "ok"})'
            )
        if self._auth is None:
            if need_tokens:
                raise DeskError("login steps need --api-user EMAIL and --api-token TOKEN")
            return
        try:
            self._call(
                "GET", "/api/v1/customer-profiles", admin=True, params={"email": _PROBE_EMAIL}
            )
        except HttpRefused as exc:
            if exc.status == 401:
                raise SimulationAborted(
                    f"{self.url} refused the API credentials of {self._auth[0]!r} (401):"
                    " check --api-user and --api-token (gladdesk api-users add EMAIL)"
                ) from None
            raise SimulationAborted(
                f"{self.url} refused the API credentials check: {exc}"
            ) from None

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        """The request as sent; a timeout or a connection failure raises SimulationAborted."""
        import httpx

        try:
            return self._http.request(method, path, **options)
        except httpx.TimeoutException:
            raise SimulationAborted(f"{self.url} did not answer {method} {path} in time") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise SimulationAborted(f"cannot reach {self.url}: {reason}") from None

    def _http_probe(self, path: str) -> Any:
        response = self._send("GET", path)
        if response.status_code != 200:
            raise SimulationAborted(
                f"{self.url} does not look like a gladdesk server (GET {path} answered"
                f" HTTP {response.status_code})"
            )
        try:
            return response.json()
        except ValueError:
            return None

    # -- WidgetClient ------------------------------------------------------------------------

    def default_app_id(self) -> str:
        return self.app_id

    def init_session(self, app_id: str) -> SessionStart:
        # With API credentials, the session is the API user's: the server does not count it
        # against the app's flood budgets (docs/config.md#flood-budgets), so one address can
        # play many customers at once.
        try:
            data = self._call(
                "POST",
                "/widget/v1/sessions",
                admin=True,
                body={"appId": app_id},
                keys=("token", "appId", "firstMessage", "onboardingRequired", "onboardingIdentity"),
            )
        except HttpRefused as exc:
            if exc.status == 404 and exc.attr == "appId":
                # Every customer would fail the same way: stop here.
                raise SimulationAborted(f"{self.url}: {exc.detail}; give --app APP_ID") from None
            raise
        token = str(data["token"])
        return SessionStart(
            session_id=token,
            token=token,
            app_id=str(data["appId"]),
            first_message=str(data["firstMessage"]),
            onboarding_required=bool(data["onboardingRequired"]),
            onboarding_identity=str(data["onboardingIdentity"]),
        )

    def submit_onboarding(self, session_id: str, **claims: Unpack[Claims]) -> object:
        return self._call("POST", "/widget/v1/onboarding", token=session_id, body=dict(claims))

    def set_user(self, session_id: str, **fields: Unpack[UserFields]) -> object:
        return self._call("PUT", "/widget/v1/user", token=session_id, body=dict(fields))

    def clear_user(self, session_id: str) -> object:
        return self._call("DELETE", "/widget/v1/user", token=session_id)

    def send_message(self, session_id: str, body: str) -> SentMessage:
        data = self._call(
            "POST",
            "/widget/v1/messages",
            token=session_id,
            body={"body": body},
            keys=("id", "conversationId", "trusted", "newConversation"),
        )
        return SentMessage(
            item_id=int(data["id"]),
            conversation_id=int(data["conversationId"]),
            trusted=data["trusted"] is True,
            new_conversation=data["newConversation"] is True,
            assignee=None,  # the widget is not told who got the chat
        )

    def end_session(self, session_id: str) -> object:
        return self._call("DELETE", "/widget/v1/session", token=session_id)

    def conversation_of(self, session_id: str) -> int | None:
        data = self._call("GET", "/widget/v1/session", token=session_id, keys=("conversationId",))
        current = data["conversationId"]
        return None if current is None else int(current)

    def mint_token(self, *, ttl_s: int = 600, **claims: Unpack[Claims]) -> str:
        """A token from the admin API, as the site's backend gets one.

        The server decides its lifetime and leaves the name out; `set_user` sends the name.
        """
        if self._auth is None:
            raise DeskError("login: no API credentials (--api-user EMAIL --api-token TOKEN)")
        email = claims.get("email")
        if email is not None:
            body = {"identityType": "EMAIL", "identity": email}
        else:
            body = {"identityType": "MOBILE_PHONE_NUMBER", "identity": claims.get("phone") or ""}
        data = self._call(
            "POST", "/api/v1/user-identity-jwt", admin=True, body=body, keys=("token",)
        )
        return str(data["token"])

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def tick(self) -> None:
        """Nothing: the server runs its own timers."""
