"""`gladdesk serve --workers N`: N server processes on one port and one desk."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import free_port, start_server
from tests.helpers import run_cli

pytestmark = pytest.mark.e2e


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_two_workers_serve_one_desk_across_connections(demo_db: Path, tmp_path: Path) -> None:
    port = free_port()
    server = start_server(demo_db, port, tmp_path / "serve.log", "--workers", "2")
    base = f"http://127.0.0.1:{port}"
    try:
        # uvicorn's supervisor, its two workers (and the resource tracker multiprocessing adds)
        assert len(_children(server.pid)) >= 2, (tmp_path / "serve.log").read_text()
        token = httpx.post(f"{base}/widget/v1/sessions", json={"appId": "retale"}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        onboard = {"name": "Pat Doe", "email": "pat.workers@example.com"}
        httpx.post(f"{base}/widget/v1/onboarding", json=onboard, headers=auth).raise_for_status()
        ids = []
        for n in range(12):  # a new connection each time: either worker may take it
            with httpx.Client(base_url=base, headers=auth) as client:
                answer = client.post("/widget/v1/messages", json={"body": f"message {n}"})
                assert answer.status_code in (200, 201), answer.text
                ids.append(answer.json()["id"])
        assert ids == sorted(ids) and len(set(ids)) == 12
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert "2 server processes on port" in (tmp_path / "serve.log").read_text()


def test_workers_need_a_fixed_port_and_a_sane_count(demo_db: Path) -> None:
    for args, reason in (
        (("serve", "--port", "0", "--workers", "2"), "needs a fixed --port"),
        (("serve", "--workers", "0"), "0 is not in the range"),
        (("serve", "--workers", "many"), "is not a valid integer"),
    ):
        result = run_cli(demo_db, *args)
        assert result.exit_code == 2 and reason in result.output, result.output
