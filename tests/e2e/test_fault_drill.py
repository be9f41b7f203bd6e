"""Fault drill: `kill -9` the server while customers are chatting over HTTP, then restart it.

Every message that got a success answer must be in the database, intact, and the file must
pass `PRAGMA integrity_check`. Messages in flight at the kill may or may not have landed:
their senders never heard back, so either is correct.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from sim.demo_desk import build_demo
from tests.e2e.server import free_port, start_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 8
BEFORE_KILL = 150
AFTER_RESTART = 150
DEADLINE_S = 60.0


@dataclass
class Drill:
    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: dict[int, str] = field(default_factory=dict)  # item id -> body
    failures: int = 0
    errors: list[str] = field(default_factory=list)

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def customer(self, number: int) -> None:
        """Init, onboard, then send messages until told to stop; retry through outages."""
        with httpx.Client(base_url=self.url, timeout=5) as client:
            token = None
            sent = 0
            while not self.stop.is_set():
                try:
                    if token is None:
                        token = client.post("/widget/v1/sessions", json={"appId": "retale"}).json()[
                            "token"
                        ]
                        client.headers["Authorization"] = f"Bearer {token}"
                        client.post(
                            "/widget/v1/onboarding",
                            json={"name": f"Drill {number}", "email": f"drill{number}@example.com"},
                        ).raise_for_status()
                    body = f"drill message {number}-{sent}"
                    response = client.post("/widget/v1/messages", json={"body": body})
                    sent += 1
                    if response.status_code != 201:
                        self.errors.append(f"{response.status_code}: {response.text}")
                        return
                    with self.lock:
                        self.acknowledged[int(response.json()["id"])] = body
                except httpx.TransportError:
                    with self.lock:
                        self.failures += 1
                    self.stop.wait(0.02)  # the server is down: back off, then retry


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_kill_9_mid_run_loses_no_acknowledged_message(tmp_path: Path) -> None:
    db = build_demo(tmp_path / "demo.db")
    log = tmp_path / "serve.log"
    port = free_port()
    server = start_server(db, port, log)
    drill = Drill(f"http://127.0.0.1:{port}")
    customers = [
        threading.Thread(target=drill.customer, args=(n,), daemon=True) for n in range(CUSTOMERS)
    ]
    try:
        for thread in customers:
            thread.start()
        wait_for(lambda: drill.count() >= BEFORE_KILL, "messages before the kill")
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        at_kill = drill.count()
        wait_for(lambda: drill.failures > 0, "customers to notice the outage")
        server = start_server(db, port, log)
        wait_for(lambda: drill.count() >= at_kill + AFTER_RESTART, "messages after the restart")
    finally:
        drill.stop.set()
        for thread in customers:
            thread.join(10)
        server.terminate()
        server.wait(timeout=20)

    assert not drill.errors, drill.errors[:3]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = dict(
            conn.execute(
                "SELECT id, body FROM items WHERE sender = 'customer' AND body LIKE 'drill %'"
            ).fetchall()
        )
    missing = {item: body for item, body in drill.acknowledged.items() if stored.get(item) != body}
    assert not missing, f"{len(missing)} acknowledged messages lost: {list(missing.items())[:5]}"
    assert len(drill.acknowledged) >= BEFORE_KILL + AFTER_RESTART
