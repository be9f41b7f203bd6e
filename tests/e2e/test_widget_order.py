"""The widget's log follows the server's ids, whatever order the answers and events arrive in.

The answer to a send and the event stream race: the bot's or the agent's reply to a message can
reach the page before the answer saying what id that message got. Each test holds one of them
back on purpose (the send's answer through `page.route`, the stream's events in the page
through a slowed `EventSource`) over several rounds, and compares the log, top to bottom,
with what the server says the conversation holds, in id order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page

from core.engine import Engine
from tests.e2e.browser import (
    login_as,
    onboard,
    server_messages,
    shot,
    shown_messages,
    type_and_enter,
)

pytestmark = pytest.mark.e2e

ROUNDS = 4
SENDS = "**/widget/v1/messages"

#: Every event of the page's event streams is handed on `window.streamDelayMs` late, in the
#: order it came (an event stream on a slow link, or a busy page).
SLOW_STREAM = """
(() => {
    const Native = window.EventSource;
    let next = 0;
    window.streamDelayMs = 0;
    window.EventSource = class extends Native {
        addEventListener(type, listener, options) {
            if (type === "error" || type === "open") {
                return super.addEventListener(type, listener, options);
            }
            return super.addEventListener(type, (event) => {
                next = Math.max(next, performance.now() + window.streamDelayMs);
                setTimeout(() => listener.call(this, event), next - performance.now());
            }, options);
        }
    };
})();
"""


def answering(agent: Engine, *, late_s: float) -> Callable[[Any], None]:
    """A route for the sends: the agent replies as soon as the server has taken the message,
    and the answer reaches the page `late_s` later (the reply comes on the stream meanwhile)."""

    def answer(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        response = route.fetch()
        if response.ok:
            sent = response.json()
            agent.reply(sent["conversationId"], "alice", f"Reply to {sent['id']}")
        time.sleep(late_s)
        route.fulfill(response=response)

    return answer


def settled(page: Page, replies: int) -> list[tuple[int, str]]:
    """The log once nothing is pending and `replies` agent replies are in it; it must be what
    the server holds, in id order, each message once."""
    page.locator(".msg.agent").nth(replies - 1).wait_for()
    page.wait_for_function(
        "() => !document.querySelector('#gladapp').shadowRoot.querySelector('.pending')"
    )
    shown, truth = shown_messages(page), server_messages(page)
    assert shown == truth, (shown, truth)
    assert [i for i, _ in shown] == sorted({i for i, _ in shown})
    return shown


def chat_rounds(page: Page, texts: list[str]) -> None:
    """Send each text, one round at a time, checking the whole log after each reply."""
    for n, text in enumerate(texts, start=1):
        type_and_enter(page, text)
        shown = settled(page, n)
        mine = max(i for i, (_, body) in enumerate(shown) if body == text)
        reply = max(i for i, (_, body) in enumerate(shown) if body.startswith("Reply to"))
        assert mine < reply, shown


def test_the_bot_and_agent_replies_stand_below_the_message_when_its_answer_comes_late(
    page: Page, server: str, agent: Engine
) -> None:
    """A verified customer's first message draws the desk's bot reply in the same breath
    (a returns question), then an agent replies to each message: all of it reaches the page
    on the event stream before the answer to the send."""
    login_as(page, server, "Aoife Okafor")
    page.locator(".launcher").click()
    held: list[Any] = []

    def hold(route: Any) -> None:  # answered below, once the replies are on the page
        if route.request.method != "POST":
            route.continue_()
            return
        response = route.fetch()
        sent = response.json()
        agent.reply(sent["conversationId"], "alice", f"Reply to {sent['id']}")
        held.append((route, response))

    page.route(SENDS, hold)
    type_and_enter(page, "I would like to return the linen shirt")
    page.locator(".msg.agent", has_text="Reply to").wait_for()
    page.locator(".msg.bot", has_text="I can see your recent orders").wait_for()
    # The message stands, faded, above the replies it drew, while its answer is held.
    log = page.locator(".msg").all_inner_texts()
    mine = next(i for i, text in enumerate(log) if "return the linen shirt" in text)
    assert page.locator(".msg.pending").all_inner_texts() == [log[mine]]
    assert mine < next(i for i, text in enumerate(log) if "I can see your recent orders" in text)
    assert mine < next(i for i, text in enumerate(log) if "Reply to" in text)
    shot(page, "browser-order-replies-before-the-answer")
    [(route, response)] = held
    route.fulfill(response=response)
    shown = settled(page, 1)
    page.unroute(SENDS)
    page.route(SENDS, answering(agent, late_s=1.0))
    bodies = [body for _, body in shown]
    first = bodies.index("I would like to return the linen shirt")
    bot = next(i for i, b in enumerate(bodies) if b.startswith("Hi Aoife, I can see"))
    assert first < bot, bodies
    chat_rounds(page, [f"Late answer, round {n}" for n in range(ROUNDS)])
    shot(page, "browser-order-late-answer")


def test_messages_take_their_place_when_the_event_stream_is_slow(
    page: Page, server: str, agent: Engine
) -> None:
    page.add_init_script(SLOW_STREAM)
    onboard(page, server, "Noor", "noor.slowstream@example.com")
    page.evaluate("() => { window.streamDelayMs = 800; }")
    page.route(SENDS, answering(agent, late_s=0))
    chat_rounds(page, [f"Slow stream, round {n}" for n in range(ROUNDS)])
    # Now the answer is late too, and later than the stream: either may come first.
    page.unroute(SENDS)
    page.route(SENDS, answering(agent, late_s=1.2))
    chat_rounds(page, [f"Both late, round {n}" for n in range(ROUNDS)])
    shot(page, "browser-order-slow-stream")


def test_a_second_enter_sends_nothing_twice_and_quick_messages_keep_server_order(
    page: Page, server: str, agent: Engine
) -> None:
    onboard(page, server, "Ravi", "ravi.quick@example.com")
    page.route(SENDS, answering(agent, late_s=0.8))
    # Typed and sent in the page itself, quicker than the server answers (a route handler
    # holding an answer holds this test's thread too).
    typed = page.evaluate(
        """() => {
            const root = document.querySelector('#gladapp').shadowRoot;
            const box = root.querySelector('textarea.input');
            const enter = () => box.dispatchEvent(
                new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
            box.value = 'First, quickly';
            enter();
            enter();  // the box emptied at once: nothing to send again
            const emptied = box.value;
            box.value = 'Second, before the first was answered';
            enter();
            const pending = [...root.querySelectorAll('.msg.pending .text')];
            return [emptied, pending.map(node => node.textContent)];
        }"""
    )
    assert typed == ["", ["First, quickly", "Second, before the first was answered"]]
    shown = settled(page, 2)
    bodies = [body for _, body in shown]
    assert bodies.count("First, quickly") == 1
    assert bodies.count("Second, before the first was answered") == 1


def test_a_reply_that_comes_while_the_log_is_redrawn_is_kept(
    page: Page, server: str, agent: Engine
) -> None:
    """setUser({jwt}) in a page that knows the customer (a single-page login) redraws the log
    from the server; a reply streamed after the server read the messages but before the page
    had them is not wiped by the redraw."""
    email = "mika.redraw@example.com"
    onboard(page, server, "Mika", email)
    type_and_enter(page, "Hello, is anyone there?")
    page.locator(".msg.customer:not(.pending)").wait_for()
    conversation_id = page.evaluate("() => GladApp.session().conversationId")

    def stale_read(route: Any) -> None:
        if route.request.method != "GET":
            route.continue_()
            return
        response = route.fetch()
        agent.reply(conversation_id, "alice", "Reply to the redraw")
        time.sleep(1.0)  # the reply reaches the page on the stream before this answer
        route.fulfill(response=response)

    page.route(SENDS, stale_read)
    token = agent.keyring.mint(email=email, ttl_s=600)
    state = page.evaluate("jwt => GladApp.setUser({jwt}).then(s => s.identityState)", token)
    assert state == "TRUSTED"
    page.unroute(SENDS)
    bodies = [body for _, body in settled(page, 1)]
    assert bodies[0] == "Hello, is anyone there?" and "Reply to the redraw" in bodies


def test_writing_again_after_a_close_keeps_the_closed_chat_above(
    page: Page, server: str, agent: Engine
) -> None:
    """The new conversation's answer comes before the stream says it started (a slow stream):
    the log goes on below the closed chat and its note, rather than being redrawn."""
    page.add_init_script(SLOW_STREAM)
    onboard(page, server, "Ada", "ada.again@example.com")
    page.evaluate("() => { window.streamDelayMs = 800; }")
    page.route(SENDS, answering(agent, late_s=0))
    chat_rounds(page, ["A first question"])
    conversation_id = page.evaluate("() => GladApp.session().conversationId")
    agent.close(conversation_id, "alice")
    page.locator(".note", has_text="closed").wait_for()
    type_and_enter(page, "One more thing")
    page.locator(".msg.agent").nth(1).wait_for()
    page.wait_for_function(
        "() => !document.querySelector('#gladapp').shadowRoot.querySelector('.pending')"
    )
    log = page.locator(".log > *").all_inner_texts()
    question = next(i for i, t in enumerate(log) if "A first question" in t)
    note = next(i for i, t in enumerate(log) if "closed" in t)
    again = next(i for i, t in enumerate(log) if "One more thing" in t)
    assert question < note < again, log
    new_conversation = page.evaluate("() => GladApp.session().conversationId")
    assert new_conversation != conversation_id
    assert [body for _, body in server_messages(page)][0] == "One more thing"
