"""The command palette: every action a key does, plus customer search by name/email/phone.

Screens list their commands (`palette_commands()`); the app adds its own. Typing two or more
characters also searches customer profiles and offers to open their latest conversation.
"""

from __future__ import annotations

import asyncio
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from core.errors import DeskError
from tui.base import DeskAppBase, PaletteCommand
from tui.text import clean_line


class DeskCommands(Provider):
    """Desk actions of the current screen and the app, and profile search."""

    def _commands(self) -> list[PaletteCommand]:
        app: DeskAppBase = self.app  # type: ignore[assignment]
        screen = self.screen
        listed = getattr(screen, "palette_commands", None)
        commands = list(listed()) if callable(listed) else []
        return commands + app.palette_commands()

    async def discover(self) -> Hits:
        for command in self._commands():
            # Content, not str: a str prompt would be parsed as markup.
            yield DiscoveryHit(
                Content(command.title), command.callback, text=command.title, help=command.help
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(
                    score,
                    Content(command.title),  # Matcher.highlight would parse markup
                    command.callback,
                    text=command.title,
                    help=command.help,
                )
        if len(query.strip()) < 2:
            return
        app: DeskAppBase = self.app  # type: ignore[assignment]
        try:
            hits = await asyncio.to_thread(app.data.search_customers, query, limit=8)
        except DeskError:
            return
        for hit in hits:
            contacts = ", ".join((*hit.emails[:1], *hit.phones[:1]))
            title = f"Customer: {clean_line(hit.name, limit=80)}"
            if contacts:
                title += f" · {clean_line(contacts, limit=120)}"
            if hit.latest_conversation_id is None:
                continue
            yield Hit(
                0.5,
                Content(title),
                partial(app.open_conversation, hit.latest_conversation_id),
                text=title,
                help=f"Open conversation #{hit.latest_conversation_id}"
                f" ({(hit.latest_status or '').lower()}) · matched by {hit.matched}",
            )
