"""What the browser tests share: where Chromium is, screenshots, and the customer's steps in
the Retalé portal and the widget (the fixtures are in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from core.engine import Engine

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
TIMEOUT_MS = 15_000


def shot(page: Page, name: str) -> None:
    """A screenshot in tests/artifacts/, to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def customer_messages(agent: Engine, email: str) -> tuple[int, list[Any]]:
    """The customer's newest open conversation and its items, as the agent sees them.

    The profile may have other open chats (a fixture chat claimed with the same email is never
    joined by a logged-in session: docs/trust-model.md)."""
    profile = agent.find_profile(email)
    conversation = max(
        (c for c in agent.past_conversations(profile.id) if c.status in ("OPEN", "WAITING")),
        key=lambda c: c.id,
    )
    return conversation.id, agent.timeline(conversation.id)


def login_as(page: Page, server: str, name: str) -> None:
    """Log in on the portal as a fixture customer: the widget is then TRUSTED."""
    page.goto(f"{server}/demo/login")
    page.get_by_role("button", name=name).click()
    page.wait_for_url(f"{server}/demo")
    page.wait_for_selector("body[data-widget=ready]")


def onboard(page: Page, server: str, name: str, email: str) -> None:
    """Open the store anonymously and introduce oneself in the widget's form (CLAIMED)."""
    page.goto(f"{server}/demo")
    page.wait_for_selector("body[data-widget=ready]")
    page.locator(".launcher").click()
    page.locator("input.name").fill(name)
    page.locator("input.contact").fill(email)
    page.locator("button.start").click()
    page.locator(".composer").wait_for()


def type_and_enter(page: Page, text: str) -> None:
    box = page.locator("textarea.input")
    box.fill(text)
    box.press("Enter")


def send(page: Page, text: str) -> None:
    """Send a message and wait until the server has taken it (it is no longer pending)."""
    type_and_enter(page, text)
    page.locator(".msg.customer:not(.pending)", has_text=text).wait_for()


def shown_messages(page: Page) -> list[tuple[int, str]]:
    """The (server id, text) of the messages in the widget, top to bottom."""
    pairs = page.eval_on_selector_all(
        ".msg[data-id]",
        "nodes => nodes.map(n => [n.dataset.id, n.querySelector('.text').textContent])",
    )
    return [(int(i), text) for i, text in pairs]


def server_messages(page: Page) -> list[tuple[int, str]]:
    """The (id, body) of the messages the server says this widget's conversation holds
    (`GET /widget/v1/messages` with the page's session token)."""
    pairs = page.evaluate(
        """async () => {
            const key = Object.keys(sessionStorage).find(k => k.endsWith(':token'));
            const answer = await fetch('/widget/v1/messages', {
                headers: {Authorization: 'Bearer ' + sessionStorage.getItem(key)},
            });
            return (await answer.json()).messages.map(m => [m.id, m.body]);
        }"""
    )
    return [(int(i), text) for i, text in pairs]
