"""`DeskAdmin`: adding and changing apps, agents and inboxes, and reading them back.

Every write is one transaction (joining the caller's, so a config file applies at once or
not at all) and appends to the change feed, which is how running servers and consoles learn
of it (`core.engine.directory.DIRECTORY_EVENTS`). Bad values raise `SettingError` and change
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import Conflict, NotFound
from core.setup import fields
from core.setup.fields import SettingError
from core.setup.model import (
    FIRST_MESSAGE,
    FIRST_MESSAGE_WITH_LOGIN,
    AgentConfig,
    AgentStatus,
    AppConfig,
    DeskConfig,
    InboxStatus,
)
from core.store import Desk, Tx
from core.store import agent_accounts as accounts
from core.store import directory as lookups
from core.store import setup as store
from core.store.keys import key_infos

DEFAULT_INBOX_SETTING = "default_inbox"
#: Change-feed kinds of an agent's token (with the agent's id): a running server ends the
#: event streams of a revoked or replaced token on them.
TOKEN_ISSUED, TOKEN_ROTATED, TOKEN_REVOKED = (
    "agent.token_issued",
    "agent.token_rotated",
    "agent.token_revoked",
)
DEFAULT_FIRST_MESSAGES = (FIRST_MESSAGE, FIRST_MESSAGE_WITH_LOGIN)


class DeskAdmin:
    """The desk's configuration, read and written."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    # -- reads --------------------------------------------------------------------------------

    def apps(self) -> list[AppConfig]:
        with self.desk.reading() as conn:
            return [AppConfig.from_row(row) for row in store.apps(conn)]

    def app(self, app_id: str) -> AppConfig:
        for app in self.apps():
            if app.app_id == app_id:
                return app
        known = ", ".join(app.app_id for app in self.apps()) or "none"
        raise NotFound(f"no app {str(app_id)[:64]!r} on this desk (known: {known})")

    def agents(self) -> list[AgentStatus]:
        with self.desk.reading() as conn:
            inboxes = store.agent_inboxes(conn)
            return [
                AgentStatus(
                    AgentConfig(
                        handle=row["handle"],
                        name=row["name"],
                        capacity=int(row["capacity"]),
                        inboxes=tuple(inboxes.get(int(row["id"]), ())),
                        disabled=bool(row["disabled"]),
                        role=str(row["role"]),
                    ),
                    available=bool(row["available"]),
                    open_conversations=int(row["open_conversations"]),
                    has_token=bool(row["has_token"]),
                )
                for row in store.agents(conn)
            ]

    def agent(self, handle: str) -> AgentStatus:
        for agent in self.agents():
            if agent.config.handle == handle:
                return agent
        known = ", ".join(a.config.handle for a in self.agents()) or "none"
        raise NotFound(f"no agent {str(handle)[:64]!r} on this desk (known: {known})")

    def inboxes(self) -> list[InboxStatus]:
        default = self.default_inbox()
        agents = self.agents()
        with self.desk.reading() as conn:
            rows = store.inboxes(conn)
        return [
            InboxStatus(
                name=row["name"],
                default=row["name"] == default,
                open_conversations=int(row["open_conversations"]),
                agents=tuple(
                    a.config.handle
                    for a in agents
                    if not a.config.disabled
                    and (not a.config.inboxes or row["name"] in a.config.inboxes)
                ),
            )
            for row in rows
        ]

    def default_inbox(self) -> str | None:
        """The inbox new chats go to unless a rule says otherwise (the first when unset)."""
        configured = self.desk.setting(DEFAULT_INBOX_SETTING)
        if configured:
            return configured
        with self.desk.reading() as conn:
            rows = store.inboxes(conn)
        return str(rows[0]["name"]) if rows else None

    def config(self) -> DeskConfig:
        """The desk's apps, inboxes and agents as a config file describes them."""
        return DeskConfig(
            apps=tuple(self.apps()),
            inboxes=tuple(inbox.name for inbox in self.inboxes()),
            agents=tuple(agent.config for agent in self.agents()),
            default_inbox=self.default_inbox(),
        )

    # -- apps ---------------------------------------------------------------------------------

    def add_app(self, settings: Mapping[str, object]) -> tuple[AppConfig, list[str]]:
        """A new app; returns it and notes worth telling whoever added it."""
        app = AppConfig.checked(settings)
        with self.desk.transaction() as conn:
            existing = [row["app_id"] for row in store.apps(conn)]
            if app.app_id in existing:
                raise Conflict(
                    f"app {app.app_id!r} already exists; change it with: gladdesk apps set"
                    f" {app.app_id} ..."
                )
            store.insert_app(conn, app.app_id, app.columns())
            self.desk.emit("app.added")
        notes = []
        if len(existing) == 1:
            unbound = [
                info.kid
                for info in key_infos(self.desk)
                if info.source != "desk" and info.status == "active" and not info.apps
            ]
            if unbound:
                notes.append(
                    f"site keys added without --app ({', '.join(unbound)}) trusted the desk's"
                    f" only app, {existing[0]!r}; with two apps they trust neither until"
                    " added again with --app"
                )
        return app, notes

    def set_app(self, app_id: str, changes: Mapping[str, object]) -> tuple[AppConfig, list[str]]:
        """Change the given settings of an app; returns it and the keys that changed."""
        if "app_id" in changes and changes["app_id"] != app_id:
            raise SettingError("app_id", "an app's id never changes; add a new app instead")
        with self.desk.transaction() as conn:
            current = self.app(app_id)
            merged = {**current.as_dict(), **changes}
            if "first_message" not in changes and current.first_message in DEFAULT_FIRST_MESSAGES:
                del merged["first_message"]  # the default follows the login URL
            app = AppConfig.checked(merged)
            changed = [
                key for key, value in app.as_dict().items() if current.as_dict()[key] != value
            ]
            if changed:
                store.update_app(conn, app_id, app.columns())
                self.desk.emit("app.changed")
        return app, changed

    # -- inboxes ------------------------------------------------------------------------------

    def add_inbox(self, name: object) -> str:
        clean = fields.inbox_name(name)
        with self.desk.transaction() as conn:
            for row in store.inboxes(conn):
                if str(row["name"]).casefold() == clean.casefold():
                    raise Conflict(f"inbox {clean!r} already exists (as {row['name']!r})")
            store.insert_inbox(conn, clean)
            self.desk.emit("inbox.added")
        return clean

    def set_default_inbox(self, name: str) -> bool:
        """Make `name` the default inbox; False when it already was."""
        with self.desk.transaction() as conn:
            self._inbox_ids(conn, [name], "default_inbox")
            if self.desk.setting(DEFAULT_INBOX_SETTING) == name:
                return False
            self.desk.set_setting(DEFAULT_INBOX_SETTING, name)
        return True

    def _inbox_ids(self, conn: Tx, names: tuple[str, ...] | list[str], key: str) -> list[int]:
        ids = []
        for name in names:
            found = lookups.inbox_by_name(conn, name)
            if found is None:
                known = ", ".join(str(r["name"]) for r in store.inboxes(conn)) or "none"
                raise SettingError(
                    key,
                    f"no inbox {name[:64]!r} on this desk (known: {known});"
                    " add it first: gladdesk inboxes add NAME",
                )
            ids.append(found)
        return ids

    # -- agents -------------------------------------------------------------------------------

    def add_agent(self, settings: Mapping[str, object]) -> AgentConfig:
        agent = AgentConfig.checked(settings)
        with self.desk.transaction() as conn:
            if lookups.agent_by_handle(conn, agent.handle) is not None:
                raise Conflict(
                    f"agent {agent.handle!r} already exists; change them with:"
                    f" gladdesk agents set {agent.handle} ..."
                )
            inbox_ids = self._inbox_ids(conn, agent.inboxes, "inboxes")
            agent_id = store.insert_agent(conn, agent.handle, self._agent_columns(agent))
            store.set_agent_inboxes(conn, agent_id, inbox_ids)
            self.desk.emit("agent.added", agent_id=agent_id)
        return agent

    def set_agent(
        self, handle: str, changes: Mapping[str, object]
    ) -> tuple[AgentConfig, list[str]]:
        """Change the given settings of an agent; returns them and the keys that changed."""
        if "handle" in changes and changes["handle"] != handle:
            raise SettingError("handle", "an agent's handle never changes; add a new agent")
        with self.desk.transaction() as conn:
            current = self.agent(handle).config
            agent = AgentConfig.checked({**current.as_dict(), **changes})
            changed = [
                key for key, value in agent.as_dict().items() if current.as_dict()[key] != value
            ]
            if not changed:
                return agent, changed
            inbox_ids = self._inbox_ids(conn, agent.inboxes, "inboxes")
            found = lookups.agent_by_handle(conn, handle)
            assert found is not None
            agent_id = found[0]
            columns = self._agent_columns(agent)
            if "disabled" not in changed:
                del columns["available"]  # only disabling or enabling moves availability
            store.update_agent(conn, agent_id, columns)
            if "inboxes" in changed:
                store.set_agent_inboxes(conn, agent_id, inbox_ids)
            if changed != ["disabled"]:
                self.desk.emit("agent.changed", agent_id=agent_id)
            if "disabled" in changed:
                kind = "agent.disabled" if agent.disabled else "agent.enabled"
                self.desk.emit(kind, agent_id=agent_id)
                if agent.disabled and accounts.clear_token(conn, agent_id):
                    # Revoked at once: servers read the hash on every request, and an open
                    # event stream ends on this row.
                    self.desk.emit(TOKEN_REVOKED, agent_id=agent_id)
        return agent, changed

    def issue_token(self, handle: str, *, rotate: bool = False) -> str:
        """A new personal access token for the agent API (docs/agent-api.md): returned once,
        stored only as its hash. Refused (Conflict, nothing changed) when the agent already
        has one and `rotate` is not given, and for a disabled agent; with `rotate`, the old
        token stops working at once."""
        from core.identity.agent_tokens import new_agent_token

        token, token_hash = new_agent_token()
        handle = fields.handle(handle)
        with self.desk.transaction() as conn:
            status = self.agent(handle)  # NotFound names the known handles
            if status.config.disabled:
                raise Conflict(
                    f"agent {handle!r} is disabled; enable them first: gladdesk agents enable"
                    f" {handle}"
                )
            found = lookups.agent_by_handle(conn, handle)
            assert found is not None
            agent_id = found[0]
            had_token = accounts.has_token(conn, agent_id)
            if had_token and not rotate:
                raise Conflict(
                    f"agent {handle!r} already has a token; replace it (the old one stops"
                    f" working at once) with: gladdesk agents token {handle} --rotate"
                )
            accounts.set_token(conn, agent_id, token_hash, self.desk.clock.now_ms())
            self.desk.emit(TOKEN_ROTATED if had_token else TOKEN_ISSUED, agent_id=agent_id)
        return token

    def disable_agent(self, handle: str) -> bool:
        """No new chats for `handle`, and no console; their open chats stay theirs until
        transferred. False when they already were disabled."""
        return bool(self.set_agent(handle, {"disabled": True})[1])

    def enable_agent(self, handle: str) -> bool:
        return bool(self.set_agent(handle, {"disabled": False})[1])

    @staticmethod
    def _agent_columns(agent: AgentConfig) -> dict[str, Any]:
        return {
            "name": agent.name,
            "capacity": agent.capacity,
            "disabled": agent.disabled,
            "available": not agent.disabled,
            "role": agent.role,
        }
