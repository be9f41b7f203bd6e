"""The profile pane says why a customer is not verified: the tokens their session had
rejected, as they happen, and never the checks an admin ran with `gladdesk verify`."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.clock import ManualClock
from core.engine import Engine
from core.identity import TokenRejected
from core.store import Desk
from tests.console_helpers import DEMO_NOW, SIZE, demo_copy, frozen_clock, wait_until
from tui.app import make_app
from tui.screens.conversation import ConversationScreen
from tui.widgets.profile_pane import ProfilePane

DIEGO = "diego.fischer@example.org"


def pane_text(screen: ConversationScreen) -> str:
    return str(screen.query_one(ProfilePane).render())


async def test_rejections_in_the_customers_session_show_up_live(tmp_path: Path) -> None:
    db = demo_copy(tmp_path)
    clock = ManualClock(DEMO_NOW)
    desk = Desk.open(db, clock=clock, create=False)
    customer = Engine(desk)  # the widget side: another process as far as the console knows
    session = customer.init_session("retale").session_id
    customer.set_user(session, name="Diego", email=DIEGO)
    conversation = customer.send_message(session, "where is my parcel?").conversation_id
    assert conversation is not None
    app = make_app(db, agent="alice", clock=frozen_clock(), queue_view="all")
    try:
        async with app.run_test(size=SIZE) as pilot:
            app.open_conversation(conversation)
            await wait_until(lambda: isinstance(app.screen, ConversationScreen))
            screen = app.screen
            assert isinstance(screen, ConversationScreen)
            await wait_until(lambda: screen.view is not None and "Emails" in pane_text(screen))
            assert "Rejected tokens" not in pane_text(screen)

            stale = customer.keyring.mint(email=DIEGO, ttl_s=60)
            clock.advance(15 * 60)
            with pytest.raises(TokenRejected, match="expired"):
                customer.set_user(session, jwt=stale)
            customer.keyring.audit(
                TokenRejected("bad_signature", "checked by hand"), session, None, origin="cli"
            )
            await wait_until(lambda: "Rejected tokens" in pane_text(screen))
            await pilot.pause()
            text = pane_text(screen)
            assert "Nov 20 09:15 expired · retale-demo-2026" in text
            assert "bad_signature" not in text  # the admin's check is not the customer's
    finally:
        app.data.close()
        desk.close()
