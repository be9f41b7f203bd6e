"""The server: `create_app(db_path)` builds the FastAPI app over one desk.

One `Desk` and one `Engine` per process; blocking desk calls run in the thread pool. Three
background tasks run while the app is up: `Engine.tick()` every second (trust expiry, login
holds), the change-feed poller that feeds the SSE streams, and the checkpoints of the desk's
write-ahead log (so that no request's commit waits for one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.clock import Clock
from core.engine import Engine
from core.errors import DeskError, StoreUnavailable
from core.identity import Keyring
from core.identity.jwks_fetch import DEFAULT_JWKS_TIMEOUT_S
from core.store import Desk
from core.web import admin_api, agent_api, agent_events, portal, widget_api
from core.web.errors import (
    ApiError,
    desk_error_response,
    handle_api_error,
    handle_desk_error,
    handle_http_exception,
    handle_unexpected,
    handle_validation_error,
)
from core.web.hub import EventHub
from core.web.limits import MAX_BODY_BYTES, BodyLimitMiddleware, SharedBudgets
from core.web.shedding import Shedding
from core.web.state import WebState, origin_allowed, same_origin

log = logging.getLogger("gladdesk.web")

TICK_S = 1.0
POLL_S = 0.1
CHECKPOINT_S = 1.0


class WidgetCors:
    """CORS for `/widget/`: answer preflights and echo allowed origins.

    An origin is allowed when some app lists it (or it is our own origin); each endpoint then
    checks it against the app of the session or request, so a widget only runs where its app
    allows.
    """

    def __init__(self, app: ASGIApp, state: WebState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/widget/"):
            await self.app(scope, receive, send)
            return
        origin = next(
            (value.decode("latin-1") for name, value in scope["headers"] if name == b"origin"),
            None,
        )
        if origin is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if same_origin(request, origin):
            await self.app(scope, receive, send)
            return
        try:
            allowed = await self.state.call(origin_allowed, request, self.state, None)
        except StoreUnavailable as exc:
            # Outside the app's error handlers: answer the same 503 they would.
            await desk_error_response(exc)(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in request.headers:
            headers = {"Vary": "Origin"}
            if allowed:
                headers |= {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
                    "Access-Control-Allow-Headers": "Authorization, Content-Type, Last-Event-ID",
                    "Access-Control-Max-Age": "600",
                }
            response = Response(status_code=204 if allowed else 403, headers=headers)
            await response(scope, receive, send)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
                headers.append((b"vary", b"Origin"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)


async def _checkpoints(desk: Desk, every_s: float) -> None:
    """Copy the desk's write-ahead log into the database off the requests' path (see
    `Desk.checkpoint_apart`)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await run_in_threadpool(desk.checkpoint)
        except Exception:  # noqa: BLE001 - retried on the next round; the log grows meanwhile
            log.exception("checkpoint failed")


async def _ticker(engine: Engine, every_s: float) -> None:
    unreachable = False
    while True:
        await asyncio.sleep(every_s)
        try:
            await run_in_threadpool(engine.tick)
        except StoreUnavailable as exc:  # one line per outage, not a traceback a second
            if not unreachable:
                log.warning("engine tick: %s; retrying every tick", exc)
            unreachable = True
            continue
        except Exception:  # noqa: BLE001 - a failed tick is retried on the next one
            log.exception("engine tick failed")
        if unreachable:
            log.warning("engine tick: the desk's database answers again")
        unreachable = False


def create_app(
    db_path: str | Path,
    *,
    clock: Clock | None = None,
    tick_s: float = TICK_S,
    poll_s: float = POLL_S,
    max_body_bytes: int = MAX_BODY_BYTES,
    inline_desk_calls: bool = True,
    jwks_timeout_s: float = DEFAULT_JWKS_TIMEOUT_S,
    shared_budgets: bool | None = None,
) -> FastAPI:
    """The HTTP server over the desk at `db_path` (which must exist).

    `inline_desk_calls=False` sends every desk call to the thread pool (see `WebState.call`).
    `jwks_timeout_s`: the deadline of a JWKS-URL fetch (docs/tokens.md).
    `shared_budgets`: count the flood budgets in the desk, with every other server process
    of it (default: on PostgreSQL, where other servers may share the desk; `serve --workers`
    turns it on for SQLite too), rather than in this process's memory.
    """
    desk = Desk.open(db_path, clock=clock, create=False)
    # Requests wait for JWKS fetches on the event loop (core.web.site_keys), never in a verify.
    keyring = Keyring(desk, jwks_timeout_s=jwks_timeout_s, wait_for_jwks=False)
    engine = Engine.for_desk(desk, keyring=keyring)
    state = WebState(
        desk=desk, engine=engine, hub=EventHub(desk, poll_s=poll_s), inline=inline_desk_calls
    )
    if shared_budgets if shared_budgets is not None else desk.dialect == "postgresql":
        state.budgets = SharedBudgets(desk)
    state.hub.listeners.append(state.desk_changed)
    app = FastAPI(
        title="gladdesk",
        summary="Widget API, agent API, admin REST API and demo portal of a gladdesk desk.",
        version="1",
        lifespan=_lifespan(state, tick_s),
    )
    app.state.web = state
    _add_error_handlers(app)
    _add_routes(app)
    app.openapi = partial(_openapi, app)  # type: ignore[method-assign]
    app.add_middleware(BodyLimitMiddleware, limit=max_body_bytes)
    app.add_middleware(Shedding, refusals=state.refusals, sessions_of=state.session_of)
    # Outermost, so that even a 413 carries the CORS headers a browser needs to read it.
    app.add_middleware(WidgetCors, state=state)
    return app


#: How long shutdown waits for the ticker and the change-feed poller to stop.
SHUTDOWN_WAIT_S = 5.0


def _lifespan(
    state: WebState, tick_s: float
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """While the app is up: the engine's ticker and the change-feed poller; then the desk
    closes."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.desk.checkpoint_apart()
        tasks = [
            asyncio.create_task(_ticker(state.engine, tick_s), name="gladdesk-tick"),
            asyncio.create_task(state.hub.run(), name="gladdesk-feed"),
            asyncio.create_task(_checkpoints(state.desk, CHECKPOINT_S), name="gladdesk-wal"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            # Bounded: a task that outlives its cancel must not hold the shutdown forever.
            _, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_S)
            for task in stuck:
                log.error(
                    "%s did not stop within %s s of its cancel", task.get_name(), SHUTDOWN_WAIT_S
                )
            state.close()

    return lifespan


def _add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, handle_api_error)
    app.add_exception_handler(DeskError, handle_desk_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(Exception, handle_unexpected)


def _add_routes(app: FastAPI) -> None:
    """The widget API, the admin API, the agent API, the portal, the widget script and the health check."""
    app.include_router(widget_api.router)
    app.include_router(admin_api.router)
    app.include_router(agent_api.router)
    app.include_router(agent_events.router)
    app.include_router(portal.router)

    @app.get("/widget.js", include_in_schema=False)
    def widget_js() -> Response:
        script = resources.files("core.web").joinpath("static", "widget.js").read_bytes()
        return Response(
            script,
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
        )

    @app.get("/favicon.svg", include_in_schema=False)
    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        icon = resources.files("core.web").joinpath("static", "favicon.svg").read_bytes()
        return Response(
            icon, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI schema, built once, with the two ways callers authenticate."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "widgetSession": {
                "type": "http",
                "scheme": "bearer",
                "description": "The widget session token from POST /widget/v1/sessions.",
            },
            "apiUser": {
                "type": "http",
                "scheme": "basic",
                "description": "API user email and API token (gladdesk api-users add).",
            },
            "agentToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "An agent's personal access token (gladdesk agents token);"
                " an admin agent's also opens the admin API.",
            },
        }
        app.openapi_schema = schema
    return app.openapi_schema
