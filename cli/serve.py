"""`gladdesk serve` (the HTTP server) and `gladdesk api-users add` (admin API credentials)."""

from __future__ import annotations

import gc
import ipaddress
import logging
import os
from typing import Any

import click

from cli.common import db_path, open_desk, warn_if_readable
from cli.identity import jwks_timeout_option
from core.addresses import is_loopback


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="TCP port."
)
@click.option(
    "--forwarded-allow-ips",
    "proxies",
    metavar="ADDRS",
    callback=lambda ctx, param, value: _check_proxies(value),
    help="Comma-separated addresses or networks of the proxies whose X-Forwarded-For and"
    " X-Forwarded-Proto are believed, or '*' for any. [default: none: the peer's address"
    " is the client's]",
)
@jwks_timeout_option(
    "Seconds a JWKS-URL fetch may take in all (connect, answer, body); a token with an"
    " unknown kid waits at most this long."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes sharing the port (each with its own connections to the desk).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    jwks_timeout_s: float,
    proxies: str | None,
    workers: int,
) -> None:
    """HTTP server: widget API, widget.js, the /demo portal and the admin REST API."""
    import uvicorn

    from core.web.app import create_app
    from core.web.log_redaction import RedactTokens
    from core.web.portal import follow_served_address, served_base_url

    if workers > 1 and port == 0:
        raise click.UsageError("--workers needs a fixed --port (the workers share it)")
    location = db_path(ctx)
    app = create_app(location, jwks_timeout_s=jwks_timeout_s)
    warn_if_readable(ctx)
    # On the demo desk, the portal's login and signup links lead here (port 0: not known yet).
    if port and follow_served_address(app.state.web.desk, served_base_url(host, port)):
        click.echo(f"gladdesk: demo portal at {served_base_url(host, port)}/demo", err=True)
    target: Any = app
    if workers > 1:
        # Each worker process builds its own app (its own desk connections and change-feed
        # tail) from what this one checked: the desk opened, the portal links set.
        app.state.web.desk.close()
        os.environ[WORKER_DESK_ENV] = str(location)
        os.environ[WORKER_JWKS_TIMEOUT_ENV] = repr(jwks_timeout_s)
        target = f"{__name__}:worker_app"
        click.echo(f"gladdesk: {workers} server processes on port {port}", err=True)
    else:
        _freeze_loaded()
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    if not is_loopback(host):
        click.echo(
            f"gladdesk: serving on {host}: put TLS in front of it before real customers use it",
            err=True,
        )
    if proxies == "*":
        click.echo(
            "gladdesk: believing X-Forwarded-For from anyone: every client can pick its own"
            " address; only right when nothing but the proxy can reach this port",
            err=True,
        )
    uvicorn.run(
        target,
        factory=workers > 1,
        workers=workers if workers > 1 else None,
        host=host,
        port=port,
        log_level="info",
        server_header=False,
        # Who is the client: the peer, unless it is a proxy named by --forwarded-allow-ips
        # (uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1, or from whatever
        # $FORWARDED_ALLOW_IPS says).
        proxy_headers=proxies is not None,
        forwarded_allow_ips=proxies if proxies is not None else "",
        # Event streams never finish on their own: give them a moment, then close them.
        timeout_graceful_shutdown=3,
    )


#: How `serve --workers N` tells its worker processes which desk to serve.
WORKER_DESK_ENV = "GLADDESK_SERVE_DESK"
WORKER_JWKS_TIMEOUT_ENV = "GLADDESK_SERVE_JWKS_TIMEOUT"


def worker_app() -> Any:
    """The app of one `serve --workers N` process (uvicorn calls this in each)."""
    from core.web.app import create_app
    from core.web.log_redaction import RedactTokens

    app = create_app(
        os.environ[WORKER_DESK_ENV],
        jwks_timeout_s=float(os.environ[WORKER_JWKS_TIMEOUT_ENV]),
        shared_budgets=True,  # the workers count one budget together
    )
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    _freeze_loaded()
    return app


def _freeze_loaded() -> None:
    """What is loaded now lives as long as the server: keep it out of the garbage collector's
    full passes, which otherwise walk every module's objects (65 ms pauses under a flood)."""
    gc.collect()
    gc.freeze()


#: Proxies listed at most by --forwarded-allow-ips.
MAX_PROXIES = 100


def _check_proxies(value: str | None) -> str | None:
    """`--forwarded-allow-ips`: '*', or IP addresses and networks separated by commas; the
    list normalized, or a usage error naming the bad entry."""
    if value is None:
        return None
    if value.strip() == "*":
        return "*"
    entries = [entry.strip() for entry in value.split(",")]
    if len(entries) > MAX_PROXIES:
        raise click.BadParameter(f"at most {MAX_PROXIES} addresses or networks")
    checked = []
    for entry in entries:
        try:
            if "/" in entry:
                checked.append(str(ipaddress.ip_network(entry, strict=False)))
            else:
                checked.append(str(ipaddress.ip_address(entry)))
        except ValueError:
            shown = entry[:60].encode("unicode_escape").decode("ascii")
            raise click.BadParameter(
                f"{shown!r} is not an IP address or network (like 10.0.0.5 or 10.0.0.0/24);"
                " separate several with commas, or give '*' for any"
            ) from None
    return ",".join(checked)


@click.group("api-users")
def api_users_group() -> None:
    """Credentials for the admin REST API (Basic auth: email + API token)."""


@api_users_group.command("add")
@click.argument("email")
@click.pass_context
def add_api_user_command(ctx: click.Context, email: str) -> None:
    """Create an API user; prints the API token (shown once, stored hashed) on the last line."""
    from core.contacts import normalize_email
    from core.identity.api_users import add_api_user

    with open_desk(ctx) as desk:
        token = add_api_user(desk, email)
    click.echo(
        f"API user {normalize_email(email)} created; its token is shown only this once:",
        err=True,
    )
    click.echo(token)
