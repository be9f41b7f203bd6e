"""The identity banner above a timeline: the conversation's identity state in words."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from core.models import ConversationView
from tui.format import badge, badge_kind, banner, stamp
from tui.text import clean_line


class IdentityBanner(Static):
    """One or two lines: badge, customer, what the identity means, what to do about it."""

    def show(self, view: ConversationView) -> None:
        kind = badge_kind(view.identity_state, view.identity_source)
        for name in ("trusted", "claimed", "expired", "anonymous"):
            self.set_class(name == kind, f"-{name}")
        text = Text(no_wrap=False, end="")
        text.append(f" {badge(view.identity_state, view.identity_source)} ", "reverse bold")
        text.append("  ")
        text.append(clean_line(view.profile.name, limit=200), "bold")
        if view.claimed_name and view.claimed_name != view.profile.name:
            # A claim never renames the profile: show what this chat's customer says instead.
            text.append(f" (says: {clean_line(view.claimed_name, limit=80)})", "italic")
        text.append(f"  #{view.id} · {view.status.lower()} · {clean_line(view.inbox, limit=60)}")
        if view.assignee:
            text.append(f" · {clean_line(view.assignee, limit=60)}")
        if view.authenticated_at is not None:
            text.append(f" · authenticated {stamp(view.authenticated_at)}")
        text.append("\n")
        text.append(banner(view.identity_state, view.identity_source, view.trust_path))
        if view.status == "CLOSED":
            text.append(" Closed: trusted marks are shown in gray.")
        self.update(text)
