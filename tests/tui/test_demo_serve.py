"""`gladdesk demo --serve`: the console and the web side together, on one clock; a separate
`gladdesk serve` on the demo's copy keeps that clock too; the portal's links follow the port."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import tui.demo
from cli.main import main
from core.clock import ManualClock
from core.engine import Engine
from core.errors import StoreError
from core.store import Desk
from core.web.background import BackgroundServer
from sim.demo_desk import build_demo
from tests.console_helpers import SIZE, wait_until
from tests.e2e.server import free_port, start_server
from tui.demo import STATE_DIR_ENV, demo_clock, make_demo, working_copy
from tui.widgets.status_bar import StatusBar

#: A demo copy 10 days behind the wall clock: far enough that a server on the wall clock
#: would see every trust window of the demo as long over.
TEN_DAYS_MS = 10 * 86_400_000
JULIE = "julie.martin@example.org"
OMAR = "omar.nguyen@mail.example.net"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("committed") / "demo.db")


@pytest.fixture
def copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path) -> Path:
    """The demo's working copy, as `gladdesk demo` makes it."""
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "state"))
    monkeypatch.setattr(tui.demo, "DEMO_DB", source)
    return working_copy()


@pytest.fixture
def served(copy: Path, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A separate `gladdesk serve` process on the demo's copy, on a port other than 8080."""
    port = free_port()
    process = start_server(copy, port, tmp_path / "serve.log")
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def trust(db: Path, clock: ManualClock | None, email: str) -> str:
    """A widget session trusted as `email` by a process on `clock` (the demo's, when None);
    its bearer token."""
    desk = Desk.open(db, clock=clock or demo_clock(db), create=False)
    try:
        engine = Engine.for_desk(desk)
        start = engine.init_session("retale")
        engine.set_user(start.session_id, jwt=engine.keyring.mint(email=email))
        assert engine.session(start.session_id).identity_state == "TRUSTED"
        return start.token
    finally:
        desk.close()


def state_of(base: str, token: str) -> str:
    response = httpx.get(
        f"{base}/widget/v1/session", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert response.status_code == 200, response.text
    return str(response.json()["identityState"])


def test_a_separate_serve_keeps_the_demos_trusted_customers_trusted(
    copy: Path, tmp_path: Path
) -> None:
    with Desk.open(copy, create=False) as desk:
        desk.record_clock_offset(TEN_DAYS_MS)
    demo_now = demo_clock(copy).now_ms()
    julie = trust(copy, None, JULIE)  # trusted "now" by the demo: an hour's window
    # Omar was trusted an hour and 5 s ago in demo time: his window is over by the demo's
    # clock, so the server's ticker lapses him, and only him, once it has run.
    omar = trust(copy, ManualClock(demo_now - 3_605_000), OMAR)
    port = free_port()
    process = start_server(copy, port, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while state_of(base, omar) == "TRUSTED":
            assert time.monotonic() < deadline, "the server never lapsed Omar's window"
            time.sleep(0.05)
        assert state_of(base, omar) == "CLAIMED"
        assert state_of(base, julie) == "TRUSTED"
    finally:
        process.terminate()
        process.wait(10)


def test_a_separate_serve_mints_on_the_demos_clock(copy: Path, served: tuple[str, int]) -> None:
    import jwt

    from core.identity.api_users import add_api_user

    base, _ = served
    with Desk.open(copy, create=False) as desk:
        token = add_api_user(desk, "backend@retale.example")
    minted = httpx.post(
        f"{base}/api/v1/user-identity-jwt",
        json={"identityType": "EMAIL", "identity": JULIE},
        auth=("backend@retale.example", token),
        timeout=5,
    )
    assert minted.status_code == 200, minted.text
    issued_ms = jwt.decode(minted.json()["token"], options={"verify_signature": False})["iat"]
    assert abs(issued_ms * 1000 - demo_clock(copy).now_ms()) < 60_000


def test_the_portal_links_follow_the_port_served(copy: Path, served: tuple[str, int]) -> None:
    base, port = served
    assert port != 8080
    started = httpx.post(f"{base}/widget/v1/sessions", json={"appId": "retale"}, timeout=5)
    assert started.status_code == 201, started.text
    first = started.json()["firstMessage"]
    assert f"http://127.0.0.1:{port}/demo/login" in first
    assert f"http://127.0.0.1:{port}/demo/signup" in first
    assert ":8080" not in first
    login = httpx.get(f"{base}/demo/login", timeout=5)
    assert login.status_code == 200


async def test_demo_serve_runs_the_web_side_beside_the_console(copy: Path) -> None:
    demo = make_demo(copy, agent="alice", seed=7, serve=True, port=0)
    assert demo.server is not None and demo.portal_url is not None
    base = demo.server.base_url
    assert base is not None and base.startswith("http://127.0.0.1:")
    try:
        async with demo.app.run_test(size=SIZE) as pilot:
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                assert (await client.get("/healthz")).json() == {"status": "ok"}
                started = await client.post("/widget/v1/sessions", json={"appId": "retale"})
                assert started.status_code == 201, started.text
                assert f"{base}/demo/login" in started.json()["firstMessage"]
                auth = {"Authorization": f"Bearer {started.json()['token']}"}
                session = await client.get("/widget/v1/session", headers=auth)
                assert session.json()["identityState"] == "ANONYMOUS"

            def status() -> str:
                return str(pilot.app.screen.query_one(StatusBar).render())

            await wait_until(lambda: f"portal {base}/demo" in status())
            await pilot.press("ctrl+q")
    finally:
        demo.close()
    assert not demo.server.running
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/healthz", timeout=2)


def test_a_port_in_use_is_one_clear_error_and_nothing_starts(copy: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["demo", "--serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args", [["--port", "9000"], ["--host", "0.0.0.0"], ["--serve", "--port", "70000"]]
)
def test_serve_options_are_checked(copy: Path, args: list[str]) -> None:
    result = CliRunner().invoke(main, ["demo", *args])
    assert result.exit_code == 2


def test_a_background_server_refuses_a_host_it_cannot_have(copy: Path) -> None:
    server = BackgroundServer(copy, host="no-such-host.invalid", port=0)
    with pytest.raises(Exception, match="no-such-host.invalid"):
        server.start()
    assert not server.running


def test_headless_demo_serve_prints_the_portal_and_stops(copy: Path) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--headless", "--serve", "--port", "0", "--duration", "0.5"]
    )
    assert result.exit_code == 0, result.output
    assert "demo portal at http://127.0.0.1:" in result.stdout
    url = result.stdout.split("demo portal at ")[1].split()[0]
    with pytest.raises(httpx.TransportError):
        httpx.get(url.replace("/demo", "/healthz"), timeout=2)


def test_a_bad_recorded_offset_is_named(copy: Path) -> None:
    with Desk.open(copy, create=False) as desk:
        desk.set_setting("clock.offset_ms", "soon")
    with pytest.raises(StoreError, match="clock.offset_ms"):
        Desk.open(copy, create=False)
