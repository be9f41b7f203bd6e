"""The desk's configuration as a TOML file (docs/config.md#the-config-file): read with
`read_config`, compared with the desk by `plan_config`, applied by `apply_config`, written by
`export_config`.

A file describes what it lists: a setting left out takes its default. Apps, inboxes and
agents the file does not list are left as they are (nothing is ever removed). A bad file
raises `ConfigError` (`file:line: reason`) before anything changes, and a file applies in one
transaction: all of it or nothing.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from core.budgets import BUDGET_DEFAULTS
from core.errors import FileLineError
from core.setup import fields
from core.setup.admin import DeskAdmin
from core.setup.fields import SettingError
from core.setup.model import AgentConfig, AppConfig, DeskConfig
from core.store import Desk
from core.toml_lines import TableLocator, read_text, syntax_error

_Entry = TypeVar("_Entry")
#: Larger config files are refused before parsing.
MAX_CONFIG_BYTES = 1 << 20
SECTIONS = ("desk", "apps", "inboxes", "agents")
DESK_KEYS = ("default_inbox",)
#: Sections of `fixtures/desk.toml` that only the demo builder reads (sim/demo_desk.py).
DEMO_ONLY = ("clock", "signing_key")


class ConfigError(FileLineError):
    """A config file that cannot be applied: the file, the line and the reason."""

    code = "bad_config"


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A parsed config file, and where each of its tables starts (for later errors)."""

    path: str
    config: DeskConfig
    locators: Mapping[str, TableLocator]
    #: The tables of the sections the caller asked to keep (`extra_sections`), as parsed.
    extras: Mapping[str, Any] = field(default_factory=dict)

    def line(self, section: str, index: int, key: str | None = None) -> int | None:
        locate = self.locators[section]
        return locate.entry(index) if key is None else locate.key(index, key)

    def error(self, section: str, index: int, key: str | None, reason: str) -> ConfigError:
        return ConfigError(self.path, self.line(section, index, key), reason)


def read_config(path: str | Path, *, extra_sections: tuple[str, ...] = ()) -> ConfigFile:
    """Read and check a config file; `ConfigError` names the file, the line and the reason."""
    path = Path(path)
    text = read_text(path, max_bytes=MAX_CONFIG_BYTES, error=ConfigError, what="config file")
    return parse_config(text, path=path, extra_sections=extra_sections)


def parse_config(
    text: str, *, path: str | Path = "<config>", extra_sections: tuple[str, ...] = ()
) -> ConfigFile:
    """Check a config file's text. `extra_sections` are tables the caller reads itself (the
    demo's `[clock]`); any other unknown section is an error."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, *syntax_error(exc)) from None
    locators = {name: TableLocator(text, name) for name in SECTIONS}
    top = locators["desk"]
    for key in data:
        if key not in SECTIONS and key not in extra_sections:
            demo = " (it belongs to the demo's fixtures: gladdesk db build-demo reads it)"
            raise ConfigError(
                path,
                top.top_level(key),
                f"unknown section {key!r}{demo if key in DEMO_ONLY else ''}; the sections are"
                " [desk], [[apps]], [[inboxes]] and [[agents]]",
            )
    reader = _Reader(str(path), data, locators)
    config = DeskConfig(
        apps=reader.apps(),
        inboxes=reader.inboxes(),
        agents=reader.agents(),
        default_inbox=reader.default_inbox(),
    )
    extras = {name: data[name] for name in extra_sections if name in data}
    return ConfigFile(str(path), config, locators, extras)


class _Reader:
    """Checks each section of a parsed file, naming the line of what is wrong."""

    def __init__(self, path: str, data: dict[str, Any], locators: Mapping[str, TableLocator]):
        self.path = path
        self.data = data
        self.locators = locators

    def fail(self, section: str, index: int, key: str | None, reason: str) -> ConfigError:
        locate = self.locators[section]
        line = locate.entry(index) if key is None else locate.key(index, key)
        return ConfigError(self.path, line, reason)

    def tables(self, section: str) -> list[dict[str, Any]]:
        value = self.data.get(section, [])
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            line = self.locators[section].top_level(section)
            raise ConfigError(self.path, line, f"{section}: expected [[{section}]] tables")
        return value

    def unique(self, section: str, what: str, values: Iterable[str]) -> None:
        seen: dict[str, int] = {}
        for index, value in enumerate(values):
            folded = value.casefold() if section == "inboxes" else value
            if folded in seen:
                first = self.locators[section].entry(seen[folded])
                raise self.fail(
                    section, index, None, f"{what} {value!r} is listed twice (also at line {first})"
                )
            seen[folded] = index

    def entries(
        self,
        section: str,
        kind: str,
        id_key: str,
        check: Callable[[dict[str, Any]], _Entry],
        ident: Callable[[_Entry], str],
    ) -> tuple[_Entry, ...]:
        """Each `[[section]]` table checked, and no two with one id."""
        checked = []
        for index, raw in enumerate(self.tables(section)):
            try:
                checked.append(check(raw))
            except SettingError as exc:
                label = _label(kind, raw.get(id_key), index)
                raise self.fail(section, index, exc.key, f"{label}: {exc}") from None
        self.unique(section, kind, (ident(entry) for entry in checked))
        return tuple(checked)

    def apps(self) -> tuple[AppConfig, ...]:
        return self.entries("apps", "app", "app_id", AppConfig.checked, lambda app: app.app_id)

    def inboxes(self) -> tuple[str, ...]:
        return self.entries("inboxes", "inbox", "name", _inbox, lambda name: name)

    def agents(self) -> tuple[AgentConfig, ...]:
        return self.entries(
            "agents", "agent", "handle", AgentConfig.checked, lambda agent: agent.handle
        )

    def default_inbox(self) -> str | None:
        desk = self.data.get("desk", {})
        locate = self.locators["desk"]
        if not isinstance(desk, dict):
            raise ConfigError(self.path, locate.top_level("desk"), "desk: expected a [desk] table")
        try:
            unknown = [key for key in desk if key not in DESK_KEYS]
            if unknown:
                raise SettingError(
                    unknown[0], f"unknown setting (the settings are: {', '.join(DESK_KEYS)})"
                )
            if "default_inbox" not in desk:
                return None
            return fields.inbox_name(desk["default_inbox"], "default_inbox")
        except SettingError as exc:
            raise ConfigError(self.path, locate.key(0, exc.key), f"desk: {exc}") from None


def _inbox(raw: Mapping[str, object]) -> str:
    unknown = [key for key in raw if key != "name"]
    if unknown:
        raise SettingError(unknown[0], "unknown setting (an inbox has only a name)")
    if "name" not in raw:
        raise SettingError("name", "required")
    return fields.inbox_name(raw["name"])


def _label(kind: str, name: object, index: int) -> str:
    if isinstance(name, str) and name.isprintable() and 0 < len(name) <= 64:
        return f"{kind} {name!r}"
    return f"{kind} {index + 1}"


# -- comparing and applying -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One thing applying a file does: what it says, and how to do it."""

    summary: str
    run: Callable[[DeskAdmin], object]


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[Change, ...]
    #: What the file leaves alone that someone might expect it to change.
    notes: tuple[str, ...]


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 50 else text[:47] + "..."


def _change(
    what: str, old: Mapping[str, Any], new: Mapping[str, Any], run: Callable[[DeskAdmin], object]
) -> list[Change]:
    """The change of `what` from `old` to `new` settings; none when they are the same."""
    differences = [
        f"{key} {_shown(old[key])} -> {_shown(value)}"
        for key, value in new.items()
        if old[key] != value
    ]
    return [Change(f"change {what}: " + "; ".join(differences), run)] if differences else []


def plan_config(desk: Desk, file: ConfigFile) -> Plan:
    """What applying `file` would change on the desk, in the order it would."""
    admin = DeskAdmin(desk)
    current = admin.config()
    config = file.config
    changes: list[Change] = []
    known = {name.casefold(): name for name in current.inboxes}
    for index, name in enumerate(config.inboxes):
        if name in current.inboxes:
            continue
        if name.casefold() in known:
            raise file.error(
                "inboxes",
                index,
                "name",
                f"inbox {name!r}: the desk has {known[name.casefold()]!r}; inbox names differ"
                " in more than case",
            )
        changes.append(Change(f"add inbox {name!r}", partial(DeskAdmin.add_inbox, name=name)))
    inboxes = (*current.inboxes, *(n for n in config.inboxes if n not in current.inboxes))
    default = config.default_inbox or (config.inboxes[0] if config.inboxes else None)
    if default is not None and default not in inboxes:
        raise ConfigError(
            file.path,
            file.locators["desk"].key(0, "default_inbox"),
            f"desk: default_inbox: no inbox {default!r} in the file or on the desk",
        )
    if default is not None and default != current.default_inbox:
        changes.append(
            Change(
                f"default inbox {default!r}"
                + (f" (was {current.default_inbox!r})" if current.default_inbox else ""),
                partial(DeskAdmin.set_default_inbox, name=default),
            )
        )
    changes += _app_changes(current, config)
    changes += _agent_changes(file, current, inboxes)
    notes = [
        f"{kind} {name!r} is on the desk but not in the file: left as it is"
        for kind, names, listed in (
            ("app", [a.app_id for a in current.apps], {a.app_id for a in config.apps}),
            ("inbox", current.inboxes, set(config.inboxes)),
            ("agent", [a.handle for a in current.agents], {a.handle for a in config.agents}),
        )
        for name in names
        if name not in listed
    ]
    return Plan(tuple(changes), tuple(notes))


def _app_changes(current: DeskConfig, config: DeskConfig) -> list[Change]:
    changes = []
    apps = {app.app_id: app for app in current.apps}
    for app in config.apps:
        settings = app.as_dict()
        old = apps.get(app.app_id)
        if old is None:
            changes.append(
                Change(f"add app {app.app_id!r}", partial(DeskAdmin.add_app, settings=settings))
            )
            continue
        changes += _change(
            f"app {app.app_id!r}",
            old.as_dict(),
            settings,
            partial(DeskAdmin.set_app, app_id=app.app_id, changes=settings),
        )
    return changes


def _agent_changes(file: ConfigFile, current: DeskConfig, inboxes: tuple[str, ...]) -> list[Change]:
    changes = []
    agents = {agent.handle: agent for agent in current.agents}
    for index, agent in enumerate(file.config.agents):
        for name in agent.inboxes:
            if name not in inboxes:
                raise file.error(
                    "agents",
                    index,
                    "inboxes",
                    f"agent {agent.handle!r}: inboxes: no inbox {name!r} in the file or on"
                    " the desk; add an [[inboxes]] table for it",
                )
        settings = agent.as_dict()
        old = agents.get(agent.handle)
        if old is None:
            works = ", ".join(agent.inboxes) or "every inbox"
            state = ", admin" if agent.role == "admin" else ""
            state += ", disabled" if agent.disabled else ""
            changes.append(
                Change(
                    f"add agent {agent.handle!r} ({agent.name}, capacity {agent.capacity},"
                    f" {works}{state})",
                    partial(DeskAdmin.add_agent, settings=settings),
                )
            )
            continue
        changes += _change(
            f"agent {agent.handle!r}",
            old.as_dict(),
            settings,
            partial(DeskAdmin.set_agent, handle=agent.handle, changes=settings),
        )
    return changes


def apply_config(desk: Desk, file: ConfigFile, *, dry_run: bool = False) -> Plan:
    """Make the desk match `file`, in one transaction; with `dry_run`, only say what would
    change. Returns the plan."""
    with desk.transaction():
        plan = plan_config(desk, file)
        if not dry_run:
            admin = DeskAdmin(desk)
            for change in plan.changes:
                change.run(admin)
    return plan


# -- writing ----------------------------------------------------------------------------------


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _table(header: str, settings: Mapping[str, object]) -> list[str]:
    return ["", header, *(f"{key} = {_toml(value)}" for key, value in settings.items())]


def config_text(config: DeskConfig) -> str:
    """`config` as a config file. Flood budgets at their defaults are left out."""
    lines = [
        "# gladdesk desk configuration: apps, inboxes and agents (docs/config.md).",
        "# Apply it with: gladdesk config apply FILE",
    ]
    if config.default_inbox is not None:
        lines += _table("[desk]", {"default_inbox": config.default_inbox})
    for app in config.apps:
        settings = {
            key: value
            for key, value in app.as_dict().items()
            if key not in BUDGET_DEFAULTS or value != BUDGET_DEFAULTS[key]
        }
        lines += _table("[[apps]]", settings)
    for name in config.inboxes:
        lines += _table("[[inboxes]]", {"name": name})
    for agent in config.agents:
        settings = agent.as_dict()
        if not agent.inboxes:
            del settings["inboxes"]
        if not agent.disabled:
            del settings["disabled"]
        if agent.role == "agent":
            del settings["role"]  # the default; an agent's token is never exported
        lines += _table("[[agents]]", settings)
    return "\n".join(lines) + "\n"


def export_config(desk: Desk) -> str:
    """The desk's apps, inboxes and agents as a config file."""
    return config_text(DeskAdmin(desk).config())
