"""`gladdesk serve` (the HTTP server) and `gladdesk api-users add` (admin API credentials)."""

from __future__ import annotations

import ipaddress
import logging

import click

from cli.common import db_path, open_desk, warn_if_readable
from cli.identity import jwks_timeout_option


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="TCP port."
)
@jwks_timeout_option(
    "Seconds a JWKS-URL fetch may take in all (connect, answer, body); a token with an"
    " unknown kid waits at most this long."
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, jwks_timeout_s: float) -> None:
    """HTTP server: widget API, widget.js, the /demo portal and the admin REST API."""
    import uvicorn

    from core.web.app import create_app
    from core.web.log_redaction import RedactTokens

    app = create_app(db_path(ctx), jwks_timeout_s=jwks_timeout_s)
    warn_if_readable(ctx)
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    if not _is_loopback(host):
        click.echo(
            f"gladdesk: serving on {host}: put TLS in front of it before real customers use it",
            err=True,
        )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        server_header=False,
        # Event streams never finish on their own: give them a moment, then close them.
        timeout_graceful_shutdown=3,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
