"""The identity banner above a timeline: who the customer is now, and the trust of what they
wrote last, in the same words and mark as the queue and the help screen."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from core.models import ConversationView, glyph
from tui.format import GLYPH, badge, badge_kind, banner, last_message_words, status_words
from tui.text import clean_line

KINDS = ("trusted", "claimed", "expired", "cleared", "anonymous")


class IdentityBanner(Static):
    """Three lines: the header (badge, customer, where the chat is), the trusted mark of the
    last customer message, and what the identity means with what to do about it."""

    COMPONENT_CLASSES = {"identity-banner--glyph-green", "identity-banner--glyph-gray"}

    def show(self, view: ConversationView) -> None:
        kind = badge_kind(view.identity_state, view.identity_source)
        for name in KINDS:
            self.set_class(name == kind, f"-{name}")
        text = Text(no_wrap=False, end="")
        text.append(f" {badge(view.identity_state, view.identity_source)} ", "reverse bold")
        text.append("  ")
        text.append(clean_line(view.profile.name, limit=200), "bold")
        if view.claimed_name and view.claimed_name != view.profile.name:
            # A claim never renames the profile: show what this chat's customer says instead.
            text.append(f" (says: {clean_line(view.claimed_name, limit=80)})", "italic")
        text.append(f"  #{view.id} · {status_words(view.status)}")
        text.append(f" · {clean_line(view.inbox, limit=60)}")
        if view.assignee:
            text.append(f" · {clean_line(view.assignee, limit=60)}")
        elif view.routed_at is None and view.status != "CLOSED":
            text.append(" · held for login")
        else:
            text.append(" · unassigned")
        text.append("\n")
        state = glyph(view.last_customer_trusted, view.status)
        if state is None:
            text.append("  ")
        else:
            text.append(GLYPH, self.get_component_rich_style(f"identity-banner--glyph-{state}"))
            text.append(" ")
        text.append(last_message_words(view.last_customer_trusted, view.status, kind))
        text.append("\n")
        text.append(
            banner(view.identity_state, view.identity_source, view.trust_path, view.trusted_until)
        )
        self.update(text)
