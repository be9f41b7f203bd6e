"""Signing a console in over the network (`gladdesk console --url`): where the agent's token
comes from, and which server addresses it may be sent to (docs/console.md#over-the-network).

The token never comes from the command line (it would sit in the shell's history and in every
process listing): it is read from `--token-file` (a file only its owner may read), from
`$GLADDESK_AGENT_TOKEN`, or typed at a prompt that does not echo it. It is sent only to https://
addresses, or to plain http:// on this machine, unless the agent says the network is trusted.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import DeskError

#: Where a token may come from when no file is given.
TOKEN_ENV = "GLADDESK_AGENT_TOKEN"
#: A token file larger than this is not a token file.
MAX_TOKEN_FILE_BYTES = 4096
#: What a token looks like: one word of URL-safe characters (`gladdesk agents token` prints
#: `gda_` and 43 of them).
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-.~+/=]{16,512}")

HOW_TO_GET_ONE = "an admin prints one with: gladdesk agents token HANDLE"


class SignInError(DeskError):
    """No usable token, or an address a token may not be sent to."""

    code = "sign_in"


def checked_token(text: str, where: str) -> str:
    """`text` stripped, when it is one token; SignInError naming `where` otherwise (never
    quoting what was given: it may be a secret with a typo)."""
    token = text.strip()
    if not token:
        raise SignInError(f"{where} is empty; {HOW_TO_GET_ONE}")
    if not _TOKEN_RE.fullmatch(token):
        raise SignInError(
            f"{where} does not hold an agent token (one line, 16 to 512 letters, digits or"
            f" -_.~+/=); {HOW_TO_GET_ONE}"
        )
    return token


def read_token_file(path: Path) -> str:
    """The token in `path`, which only its owner may read (as ssh asks of a key)."""
    shown = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SignInError(f"token file {shown}: no such file") from None
    except OSError as exc:
        raise SignInError(f"token file {shown}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SignInError(f"token file {shown} is not a file")
    if os.name == "posix" and info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        raise SignInError(
            f"token file {shown} may be read by others (mode {mode:04o}); make it yours"
            f" alone: chmod 600 {shown}"
        )
    if info.st_size > MAX_TOKEN_FILE_BYTES:
        raise SignInError(f"token file {shown} is {info.st_size} bytes: not a token file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise SignInError(f"token file {shown} is not text") from None
    except OSError as exc:
        raise SignInError(f"token file {shown}: {exc.strerror or exc}") from None
    return checked_token(text, f"token file {shown}")


def agent_token(
    token_file: Path | None,
    *,
    prompt: Callable[[], str | None],
    environ: dict[str, str] | os._Environ[str] = os.environ,
) -> str:
    """The agent's token: from `token_file` when given, else `$GLADDESK_AGENT_TOKEN`, else
    `prompt()` (None: there is no terminal to ask in)."""
    if token_file is not None:
        return read_token_file(token_file)
    from_env = environ.get(TOKEN_ENV)
    if from_env is not None:
        return checked_token(from_env, f"${TOKEN_ENV}")
    typed = prompt()
    if typed is None:
        raise SignInError(
            f"no agent token: set ${TOKEN_ENV}, pass --token-file FILE, or run in a terminal"
            f" to be asked for it ({HOW_TO_GET_ONE})"
        )
    return checked_token(typed, "the token typed")


def is_this_machine(host: str) -> bool:
    """Whether `host` names this machine (loopback): plain http stays on it."""
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_server_url(url: str, *, insecure_http: bool = False) -> None:
    """SignInError unless `url` is a desk server's address a token may be sent to."""
    if len(url) > 2000:
        raise SignInError("--url: over 2,000 characters; give the desk server's address")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as exc:
        raise SignInError(f"--url {url!r}: not an address ({exc})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise SignInError(
            f"--url {url!r}: give the desk server's address, e.g. https://desk.example"
        )
    if parts.username is not None or parts.password is not None:
        raise SignInError("--url: no user or password in the address; the token signs you in")
    if parts.query or parts.fragment:
        raise SignInError(f"--url {url!r}: give the server's address without ?query or #part")
    if parts.scheme == "http" and not insecure_http and not is_this_machine(host):
        raise SignInError(
            f"--url {url!r}: plain http would send your token across the network unencrypted;"
            " use https://, or --insecure-http on a network you trust"
        )
