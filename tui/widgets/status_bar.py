"""The status line above the footer: who is working, and the simulated feed when one runs."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.text import clean_line


class StatusBar(Static):
    """`agent: alice (Alice Moreau) · live` and, with a feed, its status line."""

    def show(self, agent: str, agent_name: str, customers_line: str | None, note: str = "") -> None:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(f" agent: {clean_line(agent, limit=60)}", "bold")
        text.append(f" ({clean_line(agent_name, limit=100)})")
        if note:
            text.append(f" · {note}")
        if customers_line:
            text.append("  │  ")
            text.append(clean_line(customers_line, limit=300), "italic")
        self.update(text)
