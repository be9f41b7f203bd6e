"""The profile pane: who the customer is, why their session is not verified (the tokens it
had rejected), and how their past conversations were authenticated."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from core.models import ConversationView, PastConversation, RejectionNote
from tui.format import day, stamp, trust_path_words
from tui.text import clean_line


class ProfilePane(Static):
    """Name, emails, phones, tags, rejected tokens and past conversations of the
    conversation's customer."""

    _shown: Text | None = None

    def show(self, view: ConversationView, past: Sequence[PastConversation]) -> None:
        profile = view.profile
        text = Text(end="")
        text.append(clean_line(profile.name, limit=200) + "\n", "bold")
        text.append(f"profile #{profile.id}\n\n", "dim")
        text.append("Emails\n", "bold underline")
        for email in profile.emails or ("—",):
            text.append(f"  {clean_line(email, limit=320)}\n")
        text.append("Phones\n", "bold underline")
        for phone in profile.phones or ("—",):
            text.append(f"  {clean_line(phone, limit=40)}\n")
        if view.tags:
            text.append("Tags\n", "bold underline")
            text.append("  " + ", ".join(clean_line(t, limit=60) for t in view.tags) + "\n")
        if view.rejections:
            _rejections(text, view.rejections)
        text.append(f"\nPast conversations ({len(past)})\n", "bold underline")
        if not past:
            text.append("  none\n", "dim")
        for conversation in past:
            text.append(f"  #{conversation.id} ", "bold")
            text.append(
                f"{day(conversation.created_at)} {conversation.status.lower()}"
                f" · {clean_line(conversation.inbox, limit=60)}\n"
            )
            words = trust_path_words(
                conversation.trust_path,
                conversation.trusted_messages,
                conversation.customer_messages,
            )
            style = "green" if conversation.trusted_messages else "dim"
            text.append(f"    {words}\n", style)
        # Only what changed (a new message usually leaves the pane as it was; each update
        # lays out the screen).
        if text != self._shown:
            self._shown = text
            self.update(text)


def _rejections(text: Text, rejections: Sequence[RejectionNote]) -> None:
    """The latest tokens the customer's live sessions had rejected: what to tell them (an
    expired login, a key the site no longer signs with) when they are not verified."""
    text.append("Rejected tokens (this chat's sessions)\n", "bold underline")
    for rejection in rejections:
        text.append(f"  {stamp(rejection.at)} ", "dim")
        text.append(clean_line(rejection.code, limit=40), "bold red")
        key = clean_line(rejection.kid, limit=60) if rejection.kid else "no key id"
        text.append(f" · {key}\n")
