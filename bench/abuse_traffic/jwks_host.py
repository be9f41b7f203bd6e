"""A JWKS host that answers its first request at once and every later one a byte at a time."""

from __future__ import annotations

import json
import multiprocessing
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

#: A trickled answer sends one byte this often: under any per-read timeout, never done.
TRICKLE_EVERY_S = 4.0


def jwks_document() -> bytes:
    """A JWKS holding one fresh ES256 public key."""
    public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public_key))
    jwk.update({"kid": "trickle-1", "alg": "ES256", "use": "sig"})
    return json.dumps({"keys": [jwk]}).encode()


class TrickleHandler(BaseHTTPRequestHandler):
    """The first request (`keys add`) gets the whole answer; later ones get it byte by byte,
    status line and headers included."""

    document = b""
    requests: Any = None  # a multiprocessing.Value shared with the parent: requests so far

    def do_GET(self) -> None:  # noqa: N802
        with self.requests.get_lock():
            number = self.requests.value
            self.requests.value += 1
        answer = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(self.document), self.document)
        )
        try:
            if number == 0:
                self.wfile.write(answer)
                return
            for byte in answer:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(TRICKLE_EVERY_S)
        except OSError:
            pass  # the server gave up on us

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class TrickleHost:
    """The host on 127.0.0.1, serving in a process of its own (forked before any thread runs,
    so that the client processes forked later inherit no serving threads)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        TrickleHandler.document = jwks_document()
        TrickleHandler.requests = context.Value("i", 0)
        server = ThreadingHTTPServer(("127.0.0.1", 0), TrickleHandler)
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/jwks.json"
        self.process = context.Process(target=server.serve_forever, daemon=True)
        self.process.start()
        server.socket.close()

    @property
    def requests(self) -> int:
        return int(TrickleHandler.requests.value)

    def stop(self) -> None:
        """Stop serving: a fetch still being trickled to is cut off."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(10)
