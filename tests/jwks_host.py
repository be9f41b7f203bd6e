"""A JWKS host on 127.0.0.1 for tests (`with jwks_host(keys) as host:`): serves a keyset, or
misbehaves, and counts requests.

Modes: `serve` (the keyset), `fail` (503), `trickle_headers` / `trickle_body` (one byte every
`trickle_every_s`, for minutes), `redirect` (302 to `redirect_to`), `huge` (a body over the
size cap, no Content-Length), `gzip` (a gzip-encoded keyset). `cut` is set when the client
dropped a trickled answer.
"""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TRICKLE_BYTES = 600


class JwksHost:
    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.mode = "serve"
        self.trickle_every_s = 0.5
        self.redirect_to = ""
        self.requests = 0
        self.paths: list[str] = []
        self.cut = threading.Event()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                with host._lock:
                    host.requests += 1
                    host.paths.append(self.path)
                try:
                    host._answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    host.cut.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks.json"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        body = json.dumps({"keys": self.keys}).encode()
        out = handler.wfile
        if self.mode == "fail":
            handler.send_error(503)
        elif self.mode == "redirect":
            handler.send_response(302)
            handler.send_header("Location", self.redirect_to)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        elif self.mode == "trickle_headers":
            out.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            self._trickle(out, b"a" * TRICKLE_BYTES)
        elif self.mode == "trickle_body":
            padded = body + b" " * TRICKLE_BYTES
            out.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(padded))
            self._trickle(out, padded)
        elif self.mode == "huge":
            out.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            for _ in range(40):
                out.write(b" " * 65536)
            handler.close_connection = True
        else:
            encoded = gzip.compress(body) if self.mode == "gzip" else body
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(encoded)))
            if self.mode == "gzip":
                handler.send_header("Content-Encoding", "gzip")
            handler.end_headers()
            out.write(encoded)

    def _trickle(self, out: Any, data: bytes) -> None:
        out.flush()
        for byte in data:
            if self.stopping.wait(self.trickle_every_s):
                return
            out.write(bytes([byte]))
            out.flush()


@contextmanager
def jwks_host(keys: list[dict[str, Any]]) -> Iterator[JwksHost]:
    """A running `JwksHost` serving `keys`, stopped afterwards."""
    host = JwksHost(keys)
    host.start()
    try:
        yield host
    finally:
        host.stop()
