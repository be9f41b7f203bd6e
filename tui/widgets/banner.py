"""The identity banner above a timeline: who the customer is now, and the trust of what they
wrote last, in the same words and mark as the queue and the help screen."""

from __future__ import annotations

import re

from rich.text import Text
from textual.widgets import Static

from core.models import ConversationView, glyph
from tui.format import GLYPH, badge, badge_kind, banner, last_message_words, status_words
from tui.text import clean_line, line_starts

KINDS = ("trusted", "claimed", "expired", "cleared", "anonymous")


class IdentityBanner(Static):
    """Three lines: the header (badge, customer, where the chat is), the trusted mark of the
    last customer message, and what the identity means with what to do about it.

    Laid out for its width: the header wraps between its pieces, and no line splits a date.
    """

    COMPONENT_CLASSES = {"identity-banner--glyph-green", "identity-banner--glyph-gray"}

    view: ConversationView | None = None
    _shown: Text | None = None

    def show(self, view: ConversationView | None) -> None:
        """Show the conversation's identity; None: there is no conversation yet."""
        self.view = view
        kind = badge_kind(view.identity_state, view.identity_source) if view else None
        for name in KINDS:
            self.set_class(name == kind, f"-{name}")
        if view is None:
            self._update(Text(" No conversation yet", style="dim", end=""))
            return
        width = self.content_size.width or None  # None before the first layout
        text = Text(no_wrap=False, end="")
        used = 0
        for piece in _header(view):
            if width and used and used + piece.cell_len > width:
                text.append("\n")
                lead = next((len(p) for p in ("  ", " · ") if piece.plain.startswith(p)), 0)
                piece = piece[lead:]
                used = 0
            text.append_text(piece)
            used += piece.cell_len
        text.append("\n")
        state = glyph(view.last_customer_trusted, view.status)
        if state is None:
            text.append("  ")
        else:
            text.append(GLYPH, self.get_component_rich_style(f"identity-banner--glyph-{state}"))
            text.append(" ")
        text.append(last_message_words(view.last_customer_trusted, view.status, kind or ""))
        text.append("\n")
        words = banner(
            view.identity_state, view.identity_source, view.trust_path, view.trusted_until
        )
        text.append(_dates_whole(words, width))
        self._update(text)

    def _update(self, text: Text) -> None:
        # Only what changed: the banner's height follows its text, so each update lays out
        # the whole screen, and a new message usually leaves the banner as it was.
        if text != self._shown:
            self._shown = text
            self.update(text)

    def on_resize(self) -> None:
        if self.view is not None:
            self.show(self.view)


def _header(view: ConversationView) -> list[Text]:
    """The first line in the pieces it may wrap between."""
    customer = Text("  ")
    customer.append(clean_line(view.profile.name, limit=200), "bold")
    if view.claimed_name and view.claimed_name != view.profile.name:
        # A claim never renames the profile: show what this chat's customer says instead.
        customer.append(f" (says: {clean_line(view.claimed_name, limit=80)})", "italic")
    if view.assignee:
        agent = f" · {clean_line(view.assignee, limit=60)}"
    elif view.routed_at is None and view.status != "CLOSED":
        agent = " · held for login"
    else:
        agent = " · unassigned"
    return [
        Text(f" {badge(view.identity_state, view.identity_source)} ", "reverse bold"),
        customer,
        Text(f"  #{view.id} · {status_words(view.status)}"),
        Text(f" · {clean_line(view.inbox, limit=60)}"),
        Text(agent),
    ]


#: A time as `tui.format.stamp` writes it: `Nov 20 11:00`.
_STAMP = re.compile(r"\b[A-Z][a-z]{2} \d{2} \d{2}:\d{2}\b")


def _dates_whole(words: str, width: int | None) -> str:
    """`words`, with a line break before a date that wrapping to `width` would split."""
    if not width:
        return words
    starts = line_starts(words, width)
    for stamp in _STAMP.finditer(words):
        if any(stamp.start() < start < stamp.end() for start in starts):
            head = words[: stamp.start()].rstrip(" ")
            return f"{head}\n{_dates_whole(words[stamp.start() :], width)}"
    return words
