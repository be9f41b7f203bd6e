"""What screens and the command palette may use of the agent console, without importing it.

`DeskApp` (tui/app.py) imports the screens, so they cannot import it back. They type
`self.app` as `DeskAppBase`, which declares the console's state and the few methods they
call; `DeskApp` subclasses it, so mypy checks that it keeps the promise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.screen import Screen

if TYPE_CHECKING:
    from core.clock import Clock
    from core.console.data import ConsoleData


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    """One palette entry: what it is called, what it does, and the binding id it mirrors."""

    title: str
    help: str
    callback: Callable[[], Any]
    binding_id: str | None = None


def in_sight(screen: Screen[Any]) -> bool:
    """Whether `screen` can be seen: it is the top screen, or every screen above it lets it
    show through (a dialog with a see-through background). Textual's `Screen.is_current`
    also counts the screen just below the top one whatever covers it."""
    stack = screen.app.screen_stack
    if screen not in stack:
        return False
    above = stack[stack.index(screen) + 1 :]
    return all(other.styles.background.a < 1 for other in above)


class DeskAppBase(App[None]):
    """The console for one agent on one desk, as its screens see it."""

    #: The desk, through the console's one data interface (core/console/data.py).
    data: ConsoleData
    clock: Clock
    agent: str
    agent_name: str
    #: The inbox names, in creation order.
    inboxes: list[str]
    #: Unsent replies by conversation id, kept while the agent looks elsewhere.
    drafts: dict[int, str]

    def open_conversation(self, conversation_id: int, *, at_item: int | None = None) -> None:
        """Show a conversation (replacing one already open), at `at_item` if given."""
        raise NotImplementedError

    def refresh_status_bars(self) -> None:
        """Redraw the status bar of every screen."""
        raise NotImplementedError

    def refresh_link_banners(self) -> None:
        """Show or hide the link banner of every screen (how the desk is reached now)."""
        raise NotImplementedError

    def palette_commands(self) -> list[PaletteCommand]:
        """The app's own palette entries (screens add theirs)."""
        raise NotImplementedError
