"""Fetching a JWKS URL: which URLs may be fetched, and a fetch that cannot stall.

A JWKS URL is `https://`; plain `http://` only to a loopback host (127.0.0.0/8, ::1,
`localhost`), for development and tests. The rule is checked when a key is added and again
before every fetch, and redirects are never followed, so a keyset row stored before the rule
existed, or a host that answers 3xx, cannot lead the desk elsewhere.

A fetch has one deadline for everything (connect, TLS, headers, body): httpx's timeouts apply
to each read, so a host that trickles a byte at a time would otherwise hold it for as long as
it likes. A watchdog cuts the connection when the deadline passes, and the body is capped at
`MAX_JWKS_BYTES`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import socket
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core.identity.jwks import MAX_JWKS_BYTES
from core.identity.material import KeyringError

if TYPE_CHECKING:  # httpx imports rich when it is installed; core must not (loaded lazily)
    import httpx

#: A JWKS fetch (connect, response and body together) gives up after this many seconds.
DEFAULT_JWKS_TIMEOUT_S = 3.0
MIN_JWKS_TIMEOUT_S = 0.1
MAX_JWKS_TIMEOUT_S = 60.0
_LOOPBACK_NAMES = frozenset({"localhost"})


class JwksUrlError(KeyringError):
    """A JWKS URL that may not or could not be fetched; `reason` says why without naming the
    URL (for the detail a token's presenter gets)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"JWKS URL {url[:80]!r}: {reason}")
        self.reason = reason


def check_jwks_timeout(value: object) -> float:
    """A JWKS fetch deadline in seconds: a finite number from 0.1 to 60."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise KeyringError(f"JWKS timeout: expected a number of seconds, not {value!r:.40}")
    seconds = float(value)
    if not math.isfinite(seconds) or not MIN_JWKS_TIMEOUT_S <= seconds <= MAX_JWKS_TIMEOUT_S:
        raise KeyringError(
            f"JWKS timeout {value!r:.40}: give seconds from {MIN_JWKS_TIMEOUT_S:g}"
            f" to {MAX_JWKS_TIMEOUT_S:g}"
        )
    return seconds


def is_loopback_host(host: str) -> bool:
    """`localhost`, or an address in 127.0.0.0/8 or ::1, written out in full."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_jwks_url(url: object) -> str:
    """`url` if the desk may fetch it: https://, or http:// to a loopback host."""
    if not isinstance(url, str):
        raise KeyringError("JWKS URL: expected a string")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise JwksUrlError(url, "not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise JwksUrlError(url, "expected an https:// URL")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise JwksUrlError(url, "contains spaces or control characters")
    if scheme == "http" and not is_loopback_host(host):
        raise JwksUrlError(
            url,
            "use https:// (plain http:// is allowed only for loopback hosts:"
            " 127.0.0.0/8, ::1, localhost)",
        )
    return url


def fetch_jwks(
    client: httpx.Client, url: str, *, timeout_s: float = DEFAULT_JWKS_TIMEOUT_S
) -> bytes:
    """GET a JWKS document: the URL rule checked, no redirects, at most `MAX_JWKS_BYTES`, all
    of it within `timeout_s` seconds."""
    import httpx

    check_jwks_url(url)
    late = JwksUrlError(url, f"no complete answer within {timeout_s:g} s")
    watchdog = _Watchdog(timeout_s)
    try:
        with client.stream(
            "GET",
            url,
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            # A new connection each time, so the watchdog sees its socket.
            headers={"Accept-Encoding": "identity", "Connection": "close"},
            extensions={"trace": watchdog.trace},
        ) as response:
            if response.is_redirect:
                raise JwksUrlError(url, f"HTTP {response.status_code}; redirects are not followed")
            if response.status_code != 200:
                raise JwksUrlError(url, f"HTTP {response.status_code}")
            if response.headers.get("content-encoding", "identity").lower() != "identity":
                raise JwksUrlError(url, "compressed answer (send it uncompressed)")
            body = _read_body(response, url, watchdog)
    except httpx.TimeoutException:
        raise late from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        if watchdog.fired:
            raise late from None
        raise JwksUrlError(url, f"fetch failed ({type(exc).__name__})") from None
    finally:
        watchdog.cancel()
    if watchdog.fired:  # the connection was cut: what arrived may be a truncated document
        raise late
    return body


def _read_body(response: httpx.Response, url: str, watchdog: _Watchdog) -> bytes:
    """The body, read in chunks against the size cap, until the watchdog fires."""
    too_large = JwksUrlError(url, f"larger than {MAX_JWKS_BYTES} bytes")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_JWKS_BYTES:
        raise too_large
    body = bytearray()
    for chunk in response.iter_bytes():  # as sent: only identity encoding is accepted
        body += chunk
        if len(body) > MAX_JWKS_BYTES:
            raise too_large
        if watchdog.fired:
            break
    return bytes(body)


class _Watchdog:
    """Cuts a fetch's connection when its deadline passes, wherever the fetch is waiting
    (connecting, the TLS handshake, headers or body): httpx's timeouts bound each read, not
    the whole. The socket is learnt from httpcore's `trace` extension."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        stream = info.get("return_value")
        get_extra_info = getattr(stream, "get_extra_info", None)
        if get_extra_info is None:
            return
        sock = get_extra_info("socket")
        if isinstance(sock, socket.socket):
            with self._lock:
                self._socket = sock
                if self.fired:
                    self._cut()

    def cancel(self) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._cut()

    def _cut(self) -> None:
        if self._socket is not None:
            # The plain socket call, also for a TLS socket: a blocked read returns at once.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self._socket, socket.SHUT_RDWR)
