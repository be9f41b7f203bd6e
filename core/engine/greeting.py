"""The widget's greeting once the customer is identified: which words, decided in one place.

- ANONYMOUS: none; the widget shows the first message with the login link.
- TRUSTED, and the verified profile chatted before this session: the app's `greeting`
  ("Hi Julie, welcome back to Retalé!"). The customer proved who they are, so recognising
  them tells them nothing they do not know.
- Anyone else identified (a first-time customer, or any CLAIMED one): the app's
  `greeting_new` (`gladdesk apps set --greeting-new`), else `GREETING_NEW`, by first name and
  without "welcome back". A claim is not proven: greeting it as a returning
  customer would imply the desk verified it, and would tell whoever typed an email that it
  belongs to a customer with history (docs/trust-model.md).
"""

from __future__ import annotations

from core.contacts import first_name
from core.engine.text import render
from core.store import Row, Tx, conversations

#: The greeting of a customer the desk may not treat as returning.
GREETING_NEW = "Hi {first_name}, welcome to {store_name}! How can we help today?"


def is_returning(conn: Tx, session: Row) -> bool:
    """TRUSTED, and its verified profile had a conversation before this session began."""
    return (
        session["identity_state"] == "TRUSTED"
        and session["profile_id"] is not None
        and conversations.started_before(conn, session["profile_id"], session["created_at"])
    )


def greeting(conn: Tx, app: Row, session: Row) -> str | None:
    """The greeting the widget shows this session instead of the first message; None while
    it is anonymous."""
    if session["identity_state"] == "ANONYMOUS":
        return None
    if is_returning(conn, session):
        template = app["greeting"]
    else:
        template = app["greeting_new"] or GREETING_NEW
    return render(
        template, first_name=first_name(session["display_name"]), store_name=app["store_name"]
    )
