"""The engine's lookups of apps, agents and inboxes by name, cached until the change feed
says the desk's configuration changed."""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import NotFound
from core.store import Desk, Event, Row
from core.store import directory as store

#: Change-feed kinds that mean apps, agents, inboxes or settings changed (core/setup/admin.py).
DIRECTORY_EVENTS = frozenset(
    {
        "app.added",
        "app.changed",
        "inbox.added",
        "agent.added",
        "agent.changed",
        "agent.disabled",
        "agent.enabled",
        "settings.changed",
    }
)


def directory_changed(events: Iterable[Event]) -> bool:
    """Whether any of `events` changed the desk's apps, agents, inboxes or settings."""
    return any(event.kind in DIRECTORY_EVENTS for event in events)


class Directory:
    """Apps, agents and inboxes by name. Apps and inboxes are never renamed or removed and
    an agent's handle never changes, so ids stay cached for good; an app's settings change
    (`gladdesk apps set`, `config apply`), and whoever follows the change feed (servers,
    consoles) calls `follow` so the next lookup reads them again."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self._apps: dict[str, Row] = {}
        self._agents: dict[str, int] = {}
        self._inboxes: dict[str, int] = {}
        #: Counts `forget` calls: a row read before one is not cached after it.
        self._generation = 0

    def forget(self) -> None:
        """Drop what is cached (after the desk's configuration changed underneath)."""
        self._generation += 1
        self._apps.clear()
        self._agents.clear()
        self._inboxes.clear()

    def follow(self, events: Iterable[Event]) -> bool:
        """Forget what is cached when `events` (the change feed, read by the caller) say the
        configuration changed; returns whether they did."""
        changed = directory_changed(events)
        if changed:
            self.forget()
        return changed

    def app(self, app_id: str) -> Row:
        row = self._apps.get(app_id)
        if row is None:
            generation = self._generation
            with self.desk.reading() as conn:
                row = store.app_row(conn, app_id)
                if row is None:
                    known = ", ".join(store.app_ids(conn))
                    raise NotFound(f"app {app_id!r} is not configured (known: {known or 'none'})")
            if generation == self._generation:
                self._apps[app_id] = row
        return row

    def first_app_id(self) -> str:
        """The first configured app, by id: the one to use when none is named."""
        with self.desk.reading() as conn:
            ids = store.app_ids(conn)
        if not ids:
            raise NotFound("the desk has no app configured")
        return min(ids)

    def agent_id(self, handle: str) -> int:
        found = self._agents.get(handle)
        if found is None:
            with self.desk.reading() as conn:
                agent = store.agent_by_handle(conn, handle)
            if agent is None:
                known = ", ".join(self.agent_handles())
                raise NotFound(f"no agent {handle!r} (known: {known or 'none'})")
            found = self._agents[handle] = agent[0]
        return found

    def agent_handles(self) -> list[str]:
        with self.desk.reading() as conn:
            return store.agent_handles(conn)

    def inbox_id(self, name: str) -> int:
        found = self._inboxes.get(name)
        if found is None:
            with self.desk.reading() as conn:
                found = store.inbox_by_name(conn, name)
            if found is None:
                known = ", ".join(inbox for _, inbox in store.inboxes(self.desk))
                raise NotFound(f"no inbox {name!r} (known: {known})")
            self._inboxes[name] = found
        return found

    def default_inbox(self) -> str:
        configured = self.desk.setting("default_inbox")
        if configured:
            return configured
        inboxes = store.inboxes(self.desk)
        if not inboxes:
            raise NotFound("the desk has no inbox; add one first")
        return inboxes[0][1]
