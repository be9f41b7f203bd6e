"""The Retalé demo portal at `/demo`: a store page with the widget and a login page.

It plays the part of a customer's website: its own login (here: pick a fixture customer, no
password), and a backend endpoint that mints a User Identity JWT for the logged-in customer,
which the page hands to `GladApp.setUser({jwt})`. It is served only when the desk's signing
key is the demo-only one, since it lets anyone log in as anyone.
"""

from __future__ import annotations

import secrets
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from core.errors import DeskError
from core.identity import desk_key_demo_only
from core.store import Desk
from core.store.directory import customer_emails
from core.store.seed import point_app_links
from core.web.errors import ApiError, api_error_from_desk
from core.web.state import WebState, web_state

router = APIRouter(prefix="/demo", include_in_schema=False)

APP_ID = "retale"
COOKIE = "retale_login"
#: Customers listed on the login page.
LISTED_CUSTOMERS = 12
#: Lifetime of the tokens the portal mints for the widget (seconds).
WIDGET_TOKEN_TTL_S = 600
MAX_PORTAL_LOGINS = 10_000


def served_base_url(host: str, port: int) -> str:
    """`http://host:port` as a browser on this machine reaches a server bound to host:port
    (a wildcard address is reached on loopback)."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def follow_served_address(desk: Desk, base_url: str) -> bool:
    """Point the demo app's login and signup links (its first message, the login prompt) at
    this portal as served at `base_url`. Only on the demo desk; True when it was."""
    if not desk_key_demo_only(desk):
        return False
    base = base_url.rstrip("/")
    with desk.transaction() as conn:
        point_app_links(
            conn, APP_ID, login_url=f"{base}/demo/login", signup_url=f"{base}/demo/signup"
        )
    return True


def _static(name: str) -> str:
    return resources.files("core.web").joinpath("static", name).read_text(encoding="utf-8")


def demo_desk(request: Request) -> WebState:
    """Only a desk signed with the demo-only key serves the portal."""
    state = web_state(request)
    if not desk_key_demo_only(state.desk):
        raise ApiError(
            404,
            "not_found",
            "the demo portal is served only on the demo desk (gladdesk db build-demo)",
        )
    return state


Demo = Annotated[WebState, Depends(demo_desk)]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(max_length=320)


def _page(name: str) -> HTMLResponse:
    return HTMLResponse(
        _static(name),
        headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline';"
            " img-src 'self' data:; frame-ancestors 'none'",
            "Cache-Control": "no-store",
        },
    )


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def store_page(state: Demo) -> HTMLResponse:
    return _page("store.html")


@router.get("/login", response_class=HTMLResponse)
def login_page(state: Demo) -> HTMLResponse:
    return _page("login.html")


@router.get("/signup", response_class=HTMLResponse)
def signup_page(state: Demo) -> HTMLResponse:
    return _page("signup.html")


@router.get("/portal.css")
def portal_css() -> Response:
    return Response(_static("portal.css"), media_type="text/css")


@router.get("/portal.js")
def portal_js() -> Response:
    return Response(_static("portal.js"), media_type="text/javascript")


@router.get("/api/customers")
def customers(state: Demo) -> list[dict[str, str]]:
    rows = customer_emails(state.desk, LISTED_CUSTOMERS)
    return [{"name": name, "email": email} for name, email in rows]


def _logged_in(state: WebState, cookie: str | None) -> str | None:
    return state.portal_logins.get(cookie) if cookie else None


@router.get("/api/me")
def me(
    state: Demo, retale_login: Annotated[str | None, Cookie(max_length=100)] = None
) -> dict[str, object]:
    email = _logged_in(state, retale_login)
    if email is None:
        return {"loggedIn": False}
    try:
        profile = state.engine.find_profile(email)
    except DeskError:
        return {"loggedIn": False}
    return {"loggedIn": True, "name": profile.name, "email": email}


@router.post("/api/login")
def login(state: Demo, payload: LoginRequest, response: Response) -> dict[str, object]:
    """Log in as a fixture customer (the demo has no passwords)."""
    try:
        profile = state.engine.find_profile(payload.email)
    except DeskError as exc:
        raise api_error_from_desk(exc, attr="email") from None
    if len(state.portal_logins) >= MAX_PORTAL_LOGINS:
        state.portal_logins.clear()
    cookie = secrets.token_urlsafe(24)
    email = profile.emails[0] if profile.emails else payload.email
    state.portal_logins[cookie] = email
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="lax", path="/demo")
    return {"loggedIn": True, "name": profile.name, "email": email}


@router.post("/api/logout")
def logout(
    state: Demo,
    response: Response,
    retale_login: Annotated[str | None, Cookie(max_length=100)] = None,
) -> dict[str, object]:
    if retale_login:
        state.portal_logins.pop(retale_login, None)
    response.delete_cookie(COOKIE, path="/demo")
    return {"loggedIn": False}


@router.post("/api/widget-token")
def widget_token(
    state: Demo, retale_login: Annotated[str | None, Cookie(max_length=100)] = None
) -> dict[str, str]:
    """The site backend's job: a fresh User Identity JWT for the logged-in customer."""
    email = _logged_in(state, retale_login)
    if email is None:
        raise ApiError(401, "unauthorized", "log in on the Retalé portal first")
    try:
        token = state.engine.keyring.mint(email=email, ttl_s=WIDGET_TOKEN_TTL_S)
    except DeskError as exc:
        raise api_error_from_desk(exc) from None
    return {"jwt": token}
