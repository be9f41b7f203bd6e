"""Start `gladdesk serve` as a real process on a free loopback port (e2e tests)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(db: Path | str, port: int, log: Path, *options: str) -> subprocess.Popen[bytes]:
    """`gladdesk --db DB serve --port PORT [OPTIONS]`; returns once /healthz answers."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tui", "--db", str(db), "serve", "--port", str(port), *options],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"server did not start: {log.read_text()}")
