"""The key footer, rebuilt only when the keys it shows change.

Textual's `Footer` composes its keys again on every change of the screen's bindings (a focus
moving between widgets, a `refresh_bindings`), each time a layout of the screen: opening a
conversation did it four times. This one rebuilds once per refresh at most, and not at all
when the keys it would show are the ones it shows.
"""

from __future__ import annotations

from textual.dom import NoScreen
from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    _shown: tuple[tuple[str, str, bool], ...] | None = None
    _pending = False

    def _keys(self) -> tuple[tuple[str, str, bool], ...]:
        """What the footer would show now: each shown binding's key, words and state."""
        return tuple(
            (binding.key, binding.description, enabled)
            for (_, binding, enabled, _) in self.screen.active_bindings.values()
            if binding.show
        )

    def bindings_changed(self, screen: Screen) -> None:  # type: ignore[type-arg]
        self._bindings_ready = True
        if not screen.app.app_focus or self._pending:
            return
        if self.is_attached and screen is self.screen:
            self._pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._pending = False
        if not self.is_attached or not self.is_mounted:
            return  # its screen went away meanwhile
        try:
            keys = self._keys()
        except NoScreen:
            return
        if keys != self._shown:
            self._shown = keys
            await self.recompose()
