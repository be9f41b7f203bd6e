"""A desk of one's own, from nothing, as the README's "your own desk in five minutes" says:
`init`, `apps set`, `agents add`, `serve`, a widget customer identified by a token the site's
backend got from the admin API, and `console --agent` in a real terminal (tmux) showing the
chat with its ✔."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import free_port, start_server
from tests.e2e.test_console_tmux import Terminal, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

MESSAGE = "Hello, is my parcel on its way?"


def gladdesk(db: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tui", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for one in opened:
        one.close()


def test_a_new_desk_set_up_from_the_command_line_serves_a_trusted_chat(
    tmp_path: Path, terminal: list[Terminal]
) -> None:
    db = tmp_path / "shop.db"
    assert "created the desk" in gladdesk(db, "init")
    gladdesk(db, "apps", "set", "site", "--store-name", "Corner Shop")
    gladdesk(db, "agents", "add", "alice", "--name", "Alice Moreau")
    api_token = re.search(r"gdk_\S+", gladdesk(db, "api-users", "add", "backend@shop.example"))
    assert api_token is not None
    port = free_port()
    server = start_server(db, port, tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            minted = http.post(
                "/api/v1/user-identity-jwt",
                auth=("backend@shop.example", api_token.group(0)),
                json={"identityType": "EMAIL", "identity": "pat@example.com", "appId": "site"},
            )
            assert minted.status_code == 200, minted.text
            started = http.post("/widget/v1/sessions", json={"appId": "site"})
            assert started.status_code == 201, started.text
            assert started.json()["storeName"] == "Corner Shop"
            bearer = {"Authorization": f"Bearer {started.json()['token']}"}
            who = http.put("/widget/v1/user", headers=bearer, json={"jwt": minted.json()["token"]})
            assert who.status_code == 200 and who.json()["identityState"] == "TRUSTED", who.text
            sent = http.post("/widget/v1/messages", headers=bearer, json={"body": MESSAGE})
            assert sent.status_code == 201 and sent.json()["trusted"] is True, sent.text
        console = Terminal("gladdesk-own-desk", db, "alice")
        terminal.append(console)
        row = wait_until(
            "the chat in alice's queue",
            lambda: next(
                (line for line in console.screen().splitlines() if MESSAGE[:20] in line), None
            ),
            shows=console,
        )
        assert isinstance(row, str) and "✔" in row and "TRUSTED" in row, row
    finally:
        server.terminate()
        server.wait(timeout=20)
