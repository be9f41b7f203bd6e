"""The link banner: shown on every screen while the console's desk cannot be reached (a console
over the network whose server restarts or whose network went away). It says since when and
why, that the console is trying again, and that nothing typed is lost."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from core.console.data import Link
from tui.text import clean_line


def link_words(link: Link, now_ms: int) -> Text:
    """What the banner says about `link` at `now_ms` (the wall clock)."""
    text = Text(no_wrap=False, end="")
    if link.state == "up":
        return text
    waited = max(0, (now_ms - (link.since_ms or now_ms)) // 1000)
    if link.state == "ended":
        text.append(" Signed out ", "bold reverse")
        text.append(f" {clean_line(link.detail, limit=300)}")
        return text
    text.append(" Connection lost ", "bold reverse")
    text.append(f" {waited} s ago ({clean_line(link.detail, limit=120)}); reconnecting")
    if link.attempts:
        text.append(f", try {link.attempts + 1}")
    text.append(
        ". Your drafts are kept; what changes meanwhile shows when the desk is back."
        " Replies and actions wait until then."
    )
    return text


class LinkBanner(Static):
    """Hidden while the link is up; the app calls `show` when it changes (and each second
    while it is down, to count)."""

    def show(self, link: Link, now_ms: int) -> None:
        self.set_class(link.state != "up", "-down")
        self.update(link_words(link, now_ms))
