"""The Retalé portal and the widget in headless Chromium, against `gladdesk serve`.

The server is a real subprocess on a free loopback port over a demo desk built in tmp_path;
the agent side is checked through the store, as a console would see it. Screenshots go to
tests/artifacts/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from core.engine import Engine
from tests.e2e.browser import customer_messages, login_as, onboard, send, shot

pytestmark = pytest.mark.e2e

JULIE = "julie.martin@example.org"
OMAR = "omar.nguyen@mail.example.net"


def test_scenario_1_logged_in_customer_is_greeted_and_trusted(
    page: Page, server: str, agent: Engine
) -> None:
    login_as(page, server, "Julie Martin")
    page.locator(".launcher").click()
    greeting = page.locator(".msg.welcome")
    greeting.wait_for()
    assert greeting.inner_text().splitlines()[-1].startswith("Hi Julie,")
    assert page.locator("form.onboarding").is_hidden()
    send(page, "Hi! Where is my order?")

    conversation_id, items = customer_messages(agent, JULIE)
    mine = [i for i in items if i.sender == "customer" and i.body == "Hi! Where is my order?"]
    assert len(mine) == 1 and mine[0].trusted is True and mine[0].glyph == "green"
    assert agent.conversation(conversation_id).identity_state == "TRUSTED"

    # The agent answers with markup: the widget shows it as text, never as HTML.
    agent.reply(conversation_id, "alice", 'Shipped today <img src=x id="injected"> [b]x[/b]')
    reply = page.locator(".msg.agent", has_text="Shipped today")
    reply.wait_for()
    assert '<img src=x id="injected">' in reply.inner_text()
    assert page.locator("#injected").count() == 0
    shot(page, "browser-scenario1-trusted")

    # Logout clears the widget: onboarding again, nothing of Julie's chat left.
    with page.expect_navigation():
        page.locator("#logout").click()
    page.wait_for_selector("body[data-widget=ready]")
    page.locator("form.onboarding").wait_for()
    assert page.locator(".msg.agent").count() == 0
    assert page.locator("#login-link").is_visible()
    shot(page, "browser-scenario1-after-logout")


def test_scenario_4_chat_with_email_then_log_in_with_the_same_email(
    page: Page, server: str, agent: Engine
) -> None:
    page.goto(f"{server}/demo")
    page.wait_for_selector("body[data-widget=ready]")
    page.locator(".launcher").click()
    welcome = page.locator(".msg.welcome")
    welcome.wait_for()
    assert welcome.locator("a", has_text="/demo/login").count() == 1
    page.locator("input.name").fill("Omar")
    page.locator("input.contact").fill(OMAR)
    page.locator("button.start").click()
    page.locator(".composer").wait_for()
    send(page, "Do you ship to Lyon?")
    conversation_id, items = customer_messages(agent, OMAR)
    [before] = [i for i in items if i.body == "Do you ship to Lyon?"]
    assert before.trusted is False
    assignee = agent.conversation(conversation_id).assignee
    shot(page, "browser-scenario4-claimed")

    page.locator("#login-link").click()
    page.get_by_role("button", name="Omar Nguyen").wait_for()
    shot(page, "browser-login-page")
    page.get_by_role("button", name="Omar Nguyen").click()
    page.wait_for_url(f"{server}/demo")
    page.wait_for_selector("body[data-widget=ready]")
    # The same widget session went on across the pages; the chat is still open and shown.
    page.locator(".msg.customer", has_text="ship to Lyon").wait_for()
    send(page, "Logged in now, it is Omar")

    same_id, items = customer_messages(agent, OMAR)
    assert same_id == conversation_id
    assert agent.conversation(conversation_id).assignee == assignee
    [after] = [i for i in items if i.body == "Logged in now, it is Omar"]
    assert after.trusted is True and after.glyph == "green"
    [earlier] = [i for i in items if i.id == before.id]
    assert earlier.trusted is False and earlier.glyph is None
    authenticated = [i for i in items if i.event == "authenticated"]
    assert len(authenticated) == 1 and before.id < authenticated[0].id < after.id
    assert "Hi Omar" in page.locator(".msg.welcome").inner_text()
    # The desk's rules thank the customer for logging in mid-chat; the widget shows it.
    page.locator(".msg.bot", has_text="your messages are now verified").wait_for()
    shot(page, "browser-scenario4-trusted")


def test_long_urls_wrap_at_their_parts_and_words_stay_whole(
    page: Page, server: str, agent: Engine
) -> None:
    page.set_viewport_size({"width": 420, "height": 760})
    page.goto(f"{server}/demo")
    page.wait_for_selector("body[data-widget=ready]")
    page.locator(".launcher").click()
    page.locator("input.name").fill("Wren")
    page.locator("input.contact").fill("wren.urls@example.com")
    page.locator("button.start").click()
    page.locator(".composer").wait_for()
    send(page, "Where can I read about returns?")
    conversation_id, _ = customer_messages(agent, "wren.urls@example.com")
    url = "https://shop.example.com/help/returns/international-shipping-and-customs/" + "x" * 60
    agent.reply(conversation_id, "alice", f"Everything is explained here: {url} thanks")
    reply = page.locator(".msg.agent", has_text="explained")
    reply.wait_for()
    link = reply.locator("a")
    assert link.get_attribute("href") == url and link.inner_text().replace("\n", "") == url
    assert link.get_attribute("rel") == "noopener noreferrer"
    # the bubble stays inside the panel: nothing runs off to the side
    box, panel = reply.bounding_box(), page.locator(".panel").bounding_box()
    assert box is not None and panel is not None
    assert box["x"] + box["width"] <= panel["x"] + panel["width"]
    # plain words are never split: each word's text is on one line
    words = page.evaluate(
        """() => {
            const bubble = [...document.querySelector('#gladapp').shadowRoot
                .querySelectorAll('.msg.agent')].pop();
            const text = bubble.querySelector('.text').firstChild;  // "Everything is ..."
            const out = [];
            let at = 0;
            for (const word of text.textContent.split(' ')) {
                if (word) {
                    const range = document.createRange();
                    range.setStart(text, at);
                    range.setEnd(text, at + word.length);
                    out.push(range.getClientRects().length);
                }
                at += word.length + 1;
            }
            return out;
        }"""
    )
    assert words and all(rects == 1 for rects in words), words
    # the link breaks between its parts: each short part of it stays on one line
    parts = page.evaluate(
        """() => {
            const link = [...document.querySelector('#gladapp').shadowRoot
                .querySelectorAll('.msg.agent a')].pop();
            return [...link.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => {
                const range = document.createRange();
                range.selectNodeContents(n);
                return [n.textContent, range.getClientRects().length];
            });
        }"""
    )
    short = [(text, rects) for text, rects in parts if len(text) < 20 and "-" not in text]
    assert [text for text, _ in short] == ["https:/", "/", "shop.example.com/", "help/", "returns/"]
    assert all(rects == 1 for _, rects in short), parts
    shot(page, "browser-long-url")


def test_pages_have_a_favicon(page: Page, server: str) -> None:
    for path in ("/demo", "/demo/login", "/demo/signup"):
        page.goto(f"{server}{path}")
        href = page.locator("link[rel=icon]").get_attribute("href")
        assert href == "/favicon.svg"
    for path in ("/favicon.svg", "/favicon.ico"):
        response = page.request.get(f"{server}{path}")
        assert response.status == 200 and response.headers["content-type"] == "image/svg+xml"
        assert response.body().startswith(b"<svg")
