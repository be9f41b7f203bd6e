"""`gladdesk keys add|list|retire`, `gladdesk token`, `gladdesk verify`
(docs/tokens.md; README.md, Command line)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from cli.common import open_desk
from cli.tables import echo_table
from core.clock import iso
from core.identity import Keyring, KeyringError, TokenRejected
from core.identity.jwks_fetch import DEFAULT_JWKS_TIMEOUT_S, check_jwks_timeout, check_jwks_url

#: A token read from stdin is never larger than this (the verifier rejects > 8 KiB anyway).
MAX_STDIN_BYTES = 64 * 1024
_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


class JwksTimeout(click.ParamType):
    """Seconds a JWKS-URL fetch may take in all: a finite number from 0.1 to 60."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = value if isinstance(value, float) else float(str(value).strip())
        except ValueError:
            self.fail(f"{str(value)[:40]!r} is not a number of seconds", param, ctx)
        try:
            return check_jwks_timeout(number)
        except KeyringError as exc:
            self.fail(str(exc), param, ctx)


def jwks_timeout_option(help_text: str) -> Any:
    """`--jwks-timeout SECONDS` (default 3), validated by `JwksTimeout`."""
    return click.option(
        "--jwks-timeout",
        "jwks_timeout_s",
        type=JwksTimeout(),
        default=DEFAULT_JWKS_TIMEOUT_S,
        show_default=True,
        help=help_text,
    )


def _read_file(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.UsageError(f"{what} {path}: cannot read: {exc.strerror}") from None
    if len(data) > 1 << 20:
        raise click.UsageError(f"{what} {path}: larger than 1 MiB")
    return data


@click.group("keys")
def keys() -> None:
    """The keyring: site keys that sign User Identity JWTs, and the desk's own key."""


@keys.command("add")
@click.option("--kid", help="Key id (the token header's kid). For --jwks-url: the keyset's name.")
@click.option("--alg", type=click.Choice(["HS256", "RS256", "ES256"]), help="Algorithm of the key.")
@click.option("--secret-file", type=_FILE, help="HS256: a file holding the shared secret.")
@click.option("--public-key-file", type=_FILE, help="RS256/ES256: a PEM public key file.")
@click.option("--jwks-file", type=_FILE, help="A JWKS file: adds every key in it (or only --kid).")
@click.option(
    "--jwks-url",
    help="A JWKS URL (https://; http:// only to a loopback host), fetched now and when a"
    " token names an unknown kid.",
)
@jwks_timeout_option("Seconds the --jwks-url fetch may take in all (connect, answer, body).")
@click.option("--issuer", help="Require this iss claim.")
@click.option("--audience", help="Require this aud claim.")
@click.option(
    "--app",
    "apps",
    multiple=True,
    help="An app whose sessions this key may trust (repeat for several; required when the"
    " desk has more than one app).",
)
@click.pass_context
def keys_add(
    ctx: click.Context,
    kid: str | None,
    alg: str | None,
    secret_file: Path | None,
    public_key_file: Path | None,
    jwks_file: Path | None,
    jwks_url: str | None,
    issuer: str | None,
    audience: str | None,
    apps: tuple[str, ...],
    jwks_timeout_s: float,
) -> None:
    """Register a site signing key. The secret goes to the keystore file, never the database.

    A secret file's trailing newline is ignored.
    """
    _check_one_source(alg, kid, secret_file, public_key_file, jwks_file, jwks_url)
    desk = open_desk(ctx)
    keyring = Keyring(desk, jwks_timeout_s=jwks_timeout_s)
    try:
        source = _key_source(alg, secret_file, public_key_file, jwks_file, jwks_url)
        added = keyring.add_key(kid=kid, **source, issuer=issuer, audience=audience, apps=apps)
    finally:
        keyring.close()
        desk.close()
    for info in added:
        click.echo(f"added {info.kid} ({info.alg}, {info.source})")


def _check_one_source(
    alg: str | None,
    kid: str | None,
    secret_file: Path | None,
    public_key_file: Path | None,
    jwks_file: Path | None,
    jwks_url: str | None,
) -> None:
    """`keys add` takes exactly one source, with the --alg and --kid it needs."""
    given = [
        name
        for name, value in (
            ("--secret-file", secret_file),
            ("--public-key-file", public_key_file),
            ("--jwks-file", jwks_file),
            ("--jwks-url", jwks_url),
        )
        if value is not None
    ]
    if alg == "HS256" and secret_file is None:
        raise click.UsageError("--alg HS256 needs --secret-file FILE")
    if len(given) != 1:
        raise click.UsageError(
            "give exactly one of --secret-file, --public-key-file, --jwks-file, --jwks-url"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if secret_file is not None and alg not in (None, "HS256"):
        raise click.UsageError(f"--secret-file is for --alg HS256, not {alg}")
    if (secret_file or public_key_file) and not kid:
        raise click.UsageError("--kid KID is required with --secret-file and --public-key-file")
    if jwks_url is not None:
        try:
            check_jwks_url(jwks_url)
        except KeyringError as exc:
            raise click.UsageError(f"--jwks-url: {exc}") from None


def _key_source(
    alg: str | None,
    secret_file: Path | None,
    public_key_file: Path | None,
    jwks_file: Path | None,
    jwks_url: str | None,
) -> dict[str, Any]:
    """`Keyring.add_key`'s alg and source arguments, the files read."""
    if secret_file is not None:
        secret = _read_file(secret_file, "secret file").rstrip(b"\r\n")
        return {"alg": "HS256", "secret": secret}
    if public_key_file is not None:
        return {"alg": alg, "public_key_pem": _read_file(public_key_file, "public key file")}
    if jwks_file is not None:
        return {"alg": alg, "jwks": _read_file(jwks_file, "JWKS file")}
    return {"alg": alg, "jwks_url": jwks_url}


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def keys_list(ctx: click.Context, as_json: bool) -> None:
    """List keys (metadata and fingerprints only; never a secret)."""
    desk = open_desk(ctx)
    try:
        infos = Keyring(desk).list_keys()
    finally:
        desk.close()
    if as_json:
        click.echo(json.dumps([info.as_dict() for info in infos], indent=2))
        return
    if not infos:
        click.echo("no keys (add one: gladdesk keys add --kid KID --alg HS256 --secret-file FILE)")
        return
    rows = [
        (
            info.kid,
            info.alg,
            info.source,
            info.status,
            info.issuer or "-",
            info.audience or "-",
            ",".join(info.apps) or "(only app)",
            info.jwks_url
            or info.fingerprint
            or ("(secret in keystore)" if info.source == "secret" else "-"),
            iso(info.created_at) or "",
        )
        for info in infos
    ]
    header = (
        "KID",
        "ALG",
        "SOURCE",
        "STATUS",
        "ISSUER",
        "AUDIENCE",
        "APPS",
        "FINGERPRINT/URL",
        "CREATED",
    )
    echo_table(header, rows)


@keys.command("retire")
@click.argument("kid")
@click.pass_context
def keys_retire(ctx: click.Context, kid: str) -> None:
    """Retire KID: its tokens are rejected (key_retired) from now on, and every session it
    trusted loses that trust now (its next message is not trusted)."""
    from core.engine import Engine, NoRules

    desk = open_desk(ctx)
    try:
        keyring = Keyring(desk)
        info = keyring.retire(kid)
        revoked = Engine(desk, keyring=keyring, rules=NoRules()).revoke_retired_trust()
    finally:
        desk.close()
    click.echo(f"retired {info.kid}; trust ended in {len(revoked)} widget session(s)")


@click.command("token")
@click.option("--email", help="The customer's email (give this or --phone).")
@click.option("--phone", help="The customer's phone in E.164, like +14155550123.")
@click.option("--name", help="The customer's display name.")
@click.option(
    "--ttl", type=click.IntRange(1, 3600), default=600, show_default=True, help="Seconds."
)
@click.option(
    "--jti", help="A token id, bound to the first widget session that presents it (default: new)."
)
@click.option("--app", "app_id", help="The app the token is for (default: the desk's only app).")
@click.pass_context
def token(
    ctx: click.Context,
    email: str | None,
    phone: str | None,
    name: str | None,
    ttl: int,
    jti: str | None,
    app_id: str | None,
) -> None:
    """Print a desk-signed User Identity JWT."""
    if (email is None) == (phone is None):
        raise click.UsageError("give exactly one of --email or --phone")
    desk = open_desk(ctx)
    try:
        text = Keyring(desk).mint(
            email=email, phone=phone, name=name, ttl_s=ttl, jti=jti, app_id=app_id
        )
    finally:
        desk.close()
    click.echo(text)


@click.command("verify")
@click.argument("token_text", metavar="TOKEN")
@click.option(
    "--session", "session_id", help="The widget session presenting the token (jti binding)."
)
@click.option("--app", "app_id", help="Check the token is meant for this app.")
@click.pass_context
def verify(ctx: click.Context, token_text: str, session_id: str | None, app_id: str | None) -> None:
    """Verify TOKEN (or `-` for stdin); print JSON; exit 0 if it verifies, 1 if rejected.

    A rejection is recorded in the token audit marked as a CLI check: `gladdesk audit` lists
    it (origin `cli`); the authentication report and the console leave it out.
    """
    if token_text == "-":
        raw: bytes = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
        token_text = raw.decode("utf-8", errors="replace").strip()
    desk = open_desk(ctx)
    try:
        identity = Keyring(desk).verify(
            token_text, session_id=session_id, app_id=app_id, origin="cli"
        )
    except TokenRejected as rejection:
        click.echo(json.dumps({"ok": False, "code": rejection.code, "detail": rejection.detail}))
        sys.exit(1)
    finally:
        desk.close()
    out = {
        "email": identity.email,
        "phone": identity.phone,
        "name": identity.name,
        "kid": identity.kid,
        "expires_at": identity.expires_at,
    }
    click.echo(json.dumps({"ok": True, "identity": out}, ensure_ascii=False))
