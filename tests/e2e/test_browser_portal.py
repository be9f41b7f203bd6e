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


#: For each text piece of the last bubble matching a selector: its text and how many lines
#: it spans (one line each: it was not broken). A link's pieces are its parts (`<wbr>` apart)
#: cut after their hyphens; plain text is cut at its spaces.
LINES_OF_PIECES = """selector => {
    const bubble = [...document.querySelector('#gladapp').shadowRoot
        .querySelectorAll(selector)].pop();
    const walker = document.createTreeWalker(bubble.querySelector('.text'), NodeFilter.SHOW_TEXT);
    const out = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const inLink = node.parentElement.tagName === 'A';
        const pieces = node.textContent.split(inLink ? /(?<=-)/ : /(?<= )/);
        let at = 0;
        for (const piece of pieces) {
            const word = piece.trimEnd();
            if (word) {
                const range = document.createRange();
                range.setStart(node, at);
                range.setEnd(node, at + word.length);
                out.push([word, range.getClientRects().length, inLink]);
            }
            at += piece.length;
        }
    }
    return out;
}"""


def test_long_urls_wrap_at_their_parts_and_words_stay_whole(
    page: Page, server: str, agent: Engine
) -> None:
    page.set_viewport_size({"width": 420, "height": 760})
    onboard(page, server, "Wren", "wren.urls@example.com")
    tail = "international-shipping-and-customs/" + "x" * 60
    mine = f"I read https://shop.example.com/help/orders/{tail}?lang=en&size=m but"
    send(page, mine)
    conversation_id, _ = customer_messages(agent, "wren.urls@example.com")
    url = f"https://shop.example.com/help/returns/{tail}"
    wiki = "https://en.wikipedia.org/wiki/Linen_(fabric)"
    agent.reply(
        conversation_id, "alice", f"Everything is explained here: {url}, thanks (see {wiki})."
    )
    reply = page.locator(".msg.agent", has_text="explained")
    reply.wait_for()
    links = reply.locator("a")
    assert [links.nth(i).get_attribute("href") for i in range(2)] == [url, wiki]
    assert links.first.inner_text().replace("\n", "") == url
    assert links.first.get_attribute("rel") == "noopener noreferrer"
    assert reply.locator(".text").inner_text().replace("\n", "").endswith(f"(see {wiki}).")
    own = page.locator(".msg.customer a")
    assert own.get_attribute("href") == mine.split(" ")[2]
    # a link on the customer's dark bubble is light
    assert own.evaluate("a => getComputedStyle(a).color") == "rgb(255, 255, 255)"
    panel = page.locator(".panel").bounding_box()
    assert panel is not None
    for bubble in (reply, page.locator(".msg.customer")):
        box = bubble.bounding_box()  # nothing runs off to the side
        assert box is not None and box["x"] + box["width"] <= panel["x"] + panel["width"]
    for selector, folder in ((".msg.agent", "returns/"), (".msg.customer", "orders/")):
        pieces = page.evaluate(LINES_OF_PIECES, selector)
        # Words are never split, nor a link's short parts ("https://", "help/", ...): only
        # the one part wider than the bubble is.
        whole = [(text, lines) for text, lines, _ in pieces if "x" * 30 not in text]
        assert whole and all(lines == 1 for _, lines in whole), [p for p in pieces if p[1] != 1]
        link_parts = [text for text, _, in_link in pieces if in_link][:5]
        assert link_parts == ["https://", "shop.example.com/", "help/", folder, "international-"]
    shot(page, "browser-long-url")


def test_hostile_text_is_shown_as_text(page: Page, server: str, agent: Engine) -> None:
    """Markup and script, bidi overrides, zero-width characters, an endless word and
    scheme tricks, from the customer and from the desk: all of it stays text."""
    page.set_viewport_size({"width": 420, "height": 760})
    onboard(page, server, "Eve", "eve.hostile@example.com")
    markup = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'
    send(page, markup)
    conversation_id, _ = customer_messages(agent, "eve.hostile@example.com")
    replies = {
        "markup": f"Got it: {markup}",
        "bidi": "Your invoice: \u202egnp.exe\u202c and \u2067isolated\u2069 fine",
        "zero-width": "Go to https://shop.example.com\u200b.evil.example/login now",
        "schemes": "Try javascript:alert(1) or data:text/html,<b>x</b> or https:// alone",
        "rtl": "\u05e9\u05dc\u05d5\u05dd, \u05de\u05d4 \u05e9\u05dc\u05d5\u05de\u05da?",
        "long word": "a" * 400,
    }
    for body in replies.values():
        agent.reply(conversation_id, "alice", body)
    texts = page.locator(".msg.agent .text")
    texts.nth(len(replies) - 1).wait_for()
    shown = dict(zip(replies, texts.all_text_contents(), strict=True))
    assert page.locator(".msg.customer .text").text_content() == markup
    assert shown["markup"] == f"Got it: {markup}"
    assert page.locator(".log img, .log script, .log b").count() == 0
    assert page.evaluate("() => window.pwned") is None
    # Bidi overrides and isolates are dropped: the file name reads as it was typed.
    assert shown["bidi"] == "Your invoice: gnp.exe and isolated fine"
    # A link ends at an invisible character: what is underlined is where it goes.
    zero_width = page.locator(".msg.agent", has_text="Go to").locator("a")
    assert zero_width.get_attribute("href") == "https://shop.example.com"
    assert shown["zero-width"] == replies["zero-width"]
    assert page.locator(".msg.agent", has_text="Try javascript").locator("a").count() == 0
    # A right-to-left message runs right to left, inside its own bubble.
    rtl = page.locator(".msg.agent .text", has_text="\u05e9\u05dc\u05d5\u05dd")
    assert rtl.evaluate("node => getComputedStyle(node).direction") == "rtl"
    assert shown["long word"] == "a" * 400
    panel = page.locator(".panel").bounding_box()
    for bubble in page.locator(".msg").all():
        box = bubble.bounding_box()
        assert box is not None and panel is not None
        assert box["x"] >= panel["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"]
    page.locator(".log").evaluate("log => { log.scrollTop = log.scrollHeight - 700; }")
    shot(page, "browser-hostile-text")


def test_the_log_stays_where_the_reader_scrolled_until_they_write(
    page: Page, server: str, agent: Engine
) -> None:
    onboard(page, server, "Theo", "theo.scroll@example.com")
    send(page, "A long story, in many parts")
    conversation_id, _ = customer_messages(agent, "theo.scroll@example.com")
    for n in range(12):
        agent.reply(conversation_id, "alice", f"Part {n} of the answer")
    page.locator(".msg.agent", has_text="Part 11").wait_for()
    log = page.locator(".log")
    gap = "log => log.scrollHeight - log.scrollTop - log.clientHeight"
    assert log.evaluate(gap) < 2  # it followed the answer down
    log.evaluate("log => { log.scrollTop = 0; }")
    agent.reply(conversation_id, "alice", "And a postscript")
    page.locator(".msg.agent", has_text="postscript").wait_for()
    assert log.evaluate("log => log.scrollTop") == 0  # the reader is left reading
    send(page, "Thanks, all read")
    assert log.evaluate(gap) < 2
    # Closed meanwhile, opened again: it shows the newest message.
    page.locator(".x").click()
    agent.reply(conversation_id, "alice", "One more, while the chat was closed")
    page.locator(".msg.agent", has_text="while the chat was closed").wait_for(state="attached")
    page.locator(".launcher").click()
    assert log.evaluate(gap) < 2


def test_pages_have_a_favicon(page: Page, server: str) -> None:
    for path in ("/demo", "/demo/login", "/demo/signup"):
        page.goto(f"{server}{path}")
        href = page.locator("link[rel=icon]").get_attribute("href")
        assert href == "/favicon.svg"
    for path in ("/favicon.svg", "/favicon.ico"):
        response = page.request.get(f"{server}{path}")
        assert response.status == 200 and response.headers["content-type"] == "image/svg+xml"
        assert response.body().startswith(b"<svg")
