"""Fixtures of the browser tests: a demo desk served by `gladdesk serve` on a free loopback
port (a real subprocess, one per test module), headless Chromium, and the agent's side of
the desk as a console sees it (through the engine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from core.engine import Engine
from core.store import Desk
from sim.demo_desk import build_demo
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.e2e.server import free_port, start_server


@pytest.fixture(scope="module")
def desk_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("browser") / "demo.db")


@pytest.fixture(scope="module")
def server(desk_db: Path) -> Iterator[str]:
    port = free_port()
    process = start_server(desk_db, port, desk_db.with_name("serve.log"))
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (its own sessionStorage); fails the test on a page error."""
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, errors


@pytest.fixture
def agent(desk_db: Path) -> Iterator[Engine]:
    desk = Desk.open(desk_db, create=False)
    yield Engine(desk)
    desk.close()
