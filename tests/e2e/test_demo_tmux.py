"""`gladdesk demo` in a real terminal (tmux): starts, shows new conversations arriving within
seconds, quits cleanly on ctrl+q, and leaves the committed demo.db byte-identical."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent.parent
DEMO = ROOT / "demo.db"
COMMITTED = [DEMO, Path(f"{DEMO}.keys"), Path(f"{DEMO}.rules.toml")]


def digests() -> dict[str, str | None]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None
        for p in COMMITTED
    }


def active_conversations(tmp_path: Path) -> int:
    """Open and waiting conversations in demo.db, counted on a copy (never opened in place)."""
    from core.engine import Engine, NoRules
    from core.store import Desk

    copy = tmp_path / "count.db"
    shutil.copyfile(DEMO, copy)
    with Desk.open(copy, create=False) as desk:
        data = Engine(desk, rules=NoRules()).export_conversations()
    return sum(1 for c in data if c["status"] != "CLOSED")


def wait_until(what: str, condition: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def start_in_tmux(session: str, command: str, state: Path, *, width: int = 140) -> None:
    """Run `command` in a detached tmux session `width`x40, from the project folder, with the
    demo's state folder set to `state`."""
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            str(width),
            "-y",
            "40",
            "-e",
            f"GLADDESK_STATE_DIR={state}",
            "-c",
            str(ROOT),
            command,
        ],
        check=True,
    )


def screen(session: str) -> str:
    done = subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
    )
    return done.stdout


def keys(session: str, *names: str) -> None:
    subprocess.run(["tmux", "send-keys", "-t", session, *names], check=True)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_demo_in_tmux(tmp_path: Path) -> None:
    if not DEMO.exists():
        pytest.fail(f"{DEMO} is missing: build it with `gladdesk db build-demo`")
    before = digests()
    baseline = active_conversations(tmp_path)
    session = f"gladdesk-demo-test-{os.getpid()}"
    exit_file = tmp_path / "exit-code"
    # COLUMNS/LINES inherited from pytest (80x24) would override the pane size.
    command = f"env -u COLUMNS -u LINES {sys.executable} -m tui demo --reset; echo $? > {exit_file}"
    start_in_tmux(session, command, tmp_path / "state")

    try:
        # The demo opens on every conversation: new chats go to the least-loaded agent.
        wait_until("the queue", lambda: "View: All" in screen(session), 30)

        def count() -> int:
            found = re.search(r"View: All .*?(\d+) conversations", screen(session))
            return int(found.group(1)) if found else 0

        assert wait_until("a new conversation", lambda: count() > baseline, 20)
        assert "feed running" in screen(session)
        keys(session, "C-q")
        wait_until("the demo to exit", exit_file.exists, 15)
        wait_until("the exit code", lambda: exit_file.read_text().strip(), 5)
        assert exit_file.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert digests() == before
    assert (tmp_path / "state" / "demo.db").exists()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_demo_serve_in_tmux(tmp_path: Path) -> None:
    """`demo --serve`: the status bar names the portal, the server answers while the console
    runs and writes nothing over it, and both stop on ctrl+q; stdout keeps the address."""
    import httpx

    from tests.e2e.server import free_port

    port = free_port()
    session = f"gladdesk-demo-serve-test-{os.getpid()}"
    exit_file, out = tmp_path / "exit-code", tmp_path / "stdout"
    command = (
        f"env -u COLUMNS -u LINES {sys.executable} -m tui demo --reset --serve --port {port}"
        f" > {out}; echo $? > {exit_file}"
    )
    start_in_tmux(session, command, tmp_path / "state", width=160)

    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            "the portal in the status bar", lambda: f"portal {base}/demo" in screen(session), 30
        )
        assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        started = httpx.post(f"{base}/widget/v1/sessions", json={"appId": "retale"}, timeout=5)
        assert started.status_code == 201 and f"{base}/demo/login" in started.json()["firstMessage"]
        assert "INFO" not in screen(session) and "Uvicorn" not in screen(session)
        keys(session, "C-q")
        wait_until("the demo to exit", exit_file.exists, 20)
        wait_until("the exit code", lambda: exit_file.read_text().strip(), 5)
        assert exit_file.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert f"demo portal was served at {base}/demo" in out.read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/healthz", timeout=2)
