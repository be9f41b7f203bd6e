"""How a simulated customer drives a desk: the `WidgetClient` interface, and `EngineWidget`,
its implementation over an `Engine` in this process.

`sim.http_widget.HttpWidget` is the other implementation: a running server over HTTP, as a
real widget would call it. The scenario player (`sim.script_run`) and the random customer mix
(`sim.customers`) speak only this interface; agents' steps need the desk's `Engine` itself,
which only the in-process client has (`agents`).
"""

from __future__ import annotations

from typing import Protocol, TypedDict, Unpack

from core.engine import Engine
from core.models import SentMessage, SessionStart


class Contact(TypedDict, total=False):
    """How a customer is reached: exactly one of the two."""

    email: str
    phone: str


class Claims(Contact, total=False):
    """Who a customer says they are (the onboarding form, a token's subject)."""

    name: str


class UserFields(Claims, total=False):
    """What `setUser` takes: claims, or a signed login token (with the name to show)."""

    jwt: str


class WidgetClient(Protocol):
    """The customer's side of a desk, as a script drives it: the widget API, plus the site's
    backend minting login tokens.

    A session is known by the `session_id` of the `SessionStart` that `init_session`
    returned (over HTTP: its bearer token).
    """

    @property
    def agents(self) -> Engine | None:
        """The desk's engine for agents' steps; None when agents do not act (over HTTP)."""
        ...

    def default_app_id(self) -> str: ...

    def init_session(self, app_id: str) -> SessionStart: ...

    def submit_onboarding(self, session_id: str, **claims: Unpack[Claims]) -> object: ...

    def set_user(self, session_id: str, **fields: Unpack[UserFields]) -> object: ...

    def clear_user(self, session_id: str) -> object: ...

    def send_message(self, session_id: str, body: str) -> SentMessage: ...

    def end_session(self, session_id: str) -> object: ...

    def conversation_of(self, session_id: str) -> int | None:
        """The session's current conversation, if it has one."""
        ...

    def mint_token(self, *, ttl_s: int = 600, **claims: Unpack[Claims]) -> str:
        """A desk-signed login token, as the site's backend would get one."""
        ...

    def now_ms(self) -> int: ...

    def tick(self) -> None:
        """Run the desk's timers (a server runs its own)."""
        ...


class EngineWidget:
    """`WidgetClient` over an `Engine` in this process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def agents(self) -> Engine:
        return self.engine

    def default_app_id(self) -> str:
        return self.engine.first_app_id()

    def init_session(self, app_id: str) -> SessionStart:
        return self.engine.init_session(app_id)

    def submit_onboarding(self, session_id: str, **claims: Unpack[Claims]) -> object:
        return self.engine.submit_onboarding(session_id, **claims)

    def set_user(self, session_id: str, **fields: Unpack[UserFields]) -> object:
        return self.engine.set_user(session_id, **fields)

    def clear_user(self, session_id: str) -> object:
        return self.engine.clear_user(session_id)

    def send_message(self, session_id: str, body: str) -> SentMessage:
        return self.engine.send_message(session_id, body)

    def end_session(self, session_id: str) -> object:
        self.engine.end_session(session_id)
        return None

    def conversation_of(self, session_id: str) -> int | None:
        current = self.engine.session(session_id).conversation_id
        return None if current is None else int(current)

    def mint_token(self, *, ttl_s: int = 600, **claims: Unpack[Claims]) -> str:
        return self.engine.keyring.mint(ttl_s=ttl_s, **claims)

    def now_ms(self) -> int:
        return self.engine.now

    def tick(self) -> None:
        self.engine.tick()


def as_widget_client(desk: Engine | WidgetClient) -> WidgetClient:
    """The customers' way in: an `Engine` is wrapped in an `EngineWidget`; a client is itself."""
    return EngineWidget(desk) if isinstance(desk, Engine) else desk
