"""What a desk is configured with, as values: apps, agents and inboxes, each checked when
made (`checked`) and read back from the desk's rows (`from_row`).

The keys are the same everywhere: the config file's, the `--json` output's and, spelled with
dashes, the command options' (docs/config.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.budgets import BUDGET_DEFAULTS, BudgetError, check_budgets
from core.engine.greeting import GREETING_NEW
from core.setup import fields
from core.setup.fields import SettingError
from core.store import Row

FIRST_MESSAGE = "Welcome to {store_name}! How can we help?"
FIRST_MESSAGE_WITH_LOGIN = (
    "Welcome to {store_name}! Log in at {login_url} so we can see your account, or just ask away."
)
GREETING_RETURNING = "Hi {first_name}, welcome back to {store_name}! How can we help today?"
FIRST_MESSAGE_PLACEHOLDERS = ("login_url", "signup_url", "first_name", "store_name")
GREETING_PLACEHOLDERS = ("first_name", "store_name")
DEFAULT_CAPACITY = 5
DEFAULT_TRUST_WINDOW_S = 3600

#: An app's settings in the order files and listings show them.
APP_KEYS = (
    "app_id",
    "store_name",
    "login_url",
    "signup_url",
    "onboarding",
    "trust_window_s",
    "allowed_origins",
    "first_message",
    "greeting_new",
    "greeting_returning",
    *BUDGET_DEFAULTS,
)
AGENT_KEYS = ("handle", "name", "role", "capacity", "inboxes", "disabled")


def _unknown(raw: Mapping[str, object], known: tuple[str, ...]) -> None:
    unknown = [key for key in raw if key not in known]
    if unknown:
        raise SettingError(unknown[0], f"unknown setting (the settings are: {', '.join(known)})")


@dataclass(frozen=True, slots=True)
class AppConfig:
    """One widget installation: the site it runs on, what it says, its budgets."""

    app_id: str
    store_name: str
    login_url: str = ""
    signup_url: str = ""
    onboarding: str = "email"
    trust_window_s: int = DEFAULT_TRUST_WINDOW_S
    allowed_origins: tuple[str, ...] = ()
    first_message: str = FIRST_MESSAGE
    greeting_new: str = GREETING_NEW
    greeting_returning: str = GREETING_RETURNING
    #: (name, value) of every flood budget (core/budgets.py).
    budgets: tuple[tuple[str, int], ...] = tuple(BUDGET_DEFAULTS.items())

    @classmethod
    def checked(cls, raw: Mapping[str, object]) -> AppConfig:
        """From settings by key; left-out ones take their defaults. `SettingError` names
        the first bad one."""
        _unknown(raw, APP_KEYS)
        for key in ("app_id", "store_name"):
            if key not in raw:
                raise SettingError(key, "required")
        # "" (or left out): the site has no such page
        login_url = fields.url(raw["login_url"], "login_url") if raw.get("login_url") else ""
        signup_url = fields.url(raw["signup_url"], "signup_url") if raw.get("signup_url") else ""
        first = FIRST_MESSAGE_WITH_LOGIN if login_url else FIRST_MESSAGE
        if "first_message" in raw:
            first = fields.template(
                raw["first_message"], "first_message", FIRST_MESSAGE_PLACEHOLDERS
            )
        for placeholder, value in (("login_url", login_url), ("signup_url", signup_url)):
            if "{" + placeholder + "}" in first and not value:
                raise SettingError(
                    "first_message",
                    f"uses {{{placeholder}}} but the app has no {placeholder}; set one",
                )
        greetings = {
            key: fields.template(raw[key], key, GREETING_PLACEHOLDERS)
            for key in ("greeting_new", "greeting_returning")
            if key in raw
        }
        try:
            budgets = check_budgets(raw, "app")
        except BudgetError as exc:
            raise SettingError(exc.setting, exc.reason) from None
        return cls(
            app_id=fields.app_id(raw["app_id"]),
            store_name=fields.name(raw["store_name"], "store_name", fields.MAX_STORE_NAME_CHARS),
            login_url=login_url,
            signup_url=signup_url,
            onboarding=fields.onboarding(raw.get("onboarding", "email")),
            trust_window_s=fields.trust_window(raw.get("trust_window_s", DEFAULT_TRUST_WINDOW_S)),
            allowed_origins=fields.origins(raw.get("allowed_origins", [])),
            first_message=first,
            greeting_new=greetings.get("greeting_new", GREETING_NEW),
            greeting_returning=greetings.get("greeting_returning", GREETING_RETURNING),
            budgets=tuple(budgets.items()),
        )

    @classmethod
    def from_row(cls, row: Row) -> AppConfig:
        try:
            origins = tuple(str(o) for o in json.loads(row["allowed_origins"]))
        except (ValueError, TypeError):
            origins = ()
        return cls(
            app_id=row["app_id"],
            store_name=row["store_name"],
            login_url=row["login_url"],
            signup_url=row["signup_url"],
            onboarding=row["onboarding_identity"] if row["onboarding_enabled"] else "off",
            trust_window_s=int(row["trust_window_s"]),
            allowed_origins=origins,
            first_message=row["first_message"],
            # NULL (a desk from before separate greetings): the desk's default for new ones
            greeting_new=row["greeting_new"] if row["greeting_new"] is not None else GREETING_NEW,
            greeting_returning=row["greeting"],
            budgets=tuple((name, int(row[name])) for name in BUDGET_DEFAULTS),
        )

    def as_dict(self) -> dict[str, Any]:
        """Every setting by key, in `APP_KEYS` order (what files and `--json` show)."""
        out: dict[str, Any] = {
            key: getattr(self, key) for key in APP_KEYS if key not in BUDGET_DEFAULTS
        }
        out["allowed_origins"] = list(self.allowed_origins)
        out.update(self.budgets)
        return out

    def columns(self) -> dict[str, object]:
        """The `apps` columns (core/store/setup.py) besides app_id. Onboarding `off` keeps
        the form's identity field as it was."""
        columns: dict[str, object] = {
            "store_name": self.store_name,
            "login_url": self.login_url,
            "signup_url": self.signup_url,
            "first_message": self.first_message,
            "greeting": self.greeting_returning,
            "greeting_new": self.greeting_new,
            "onboarding_enabled": self.onboarding != "off",
            "trust_window_s": self.trust_window_s,
            "allowed_origins": self.allowed_origins,
            **dict(self.budgets),
        }
        if self.onboarding != "off":
            columns["onboarding_identity"] = self.onboarding
        return columns


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """An agent: who they are, how many chats at once, which inboxes (none: all)."""

    handle: str
    name: str
    capacity: int = DEFAULT_CAPACITY
    inboxes: tuple[str, ...] = ()
    disabled: bool = False
    #: `agent`, or `admin`: sees every conversation and may use the admin REST API.
    role: str = "agent"

    @classmethod
    def checked(cls, raw: Mapping[str, object]) -> AgentConfig:
        _unknown(raw, AGENT_KEYS)
        for key in ("handle", "name"):
            if key not in raw:
                raise SettingError(key, "required")
        listed = raw.get("inboxes", [])
        if isinstance(listed, str) or not isinstance(listed, list | tuple):
            raise SettingError("inboxes", f"expected a list of inbox names, got {listed!r:.60}")
        inboxes: list[str] = []
        for item in listed:
            inbox = fields.inbox_name(item, "inboxes")
            if inbox not in inboxes:
                inboxes.append(inbox)
        return cls(
            handle=fields.handle(raw["handle"]),
            name=fields.name(raw["name"], "name", fields.MAX_AGENT_NAME_CHARS),
            capacity=fields.capacity(raw.get("capacity", DEFAULT_CAPACITY)),
            inboxes=tuple(inboxes),
            disabled=fields.flag(raw.get("disabled", False), "disabled"),
            role=fields.role(raw.get("role", "agent")),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "name": self.name,
            "role": self.role,
            "capacity": self.capacity,
            "inboxes": list(self.inboxes),
            "disabled": self.disabled,
        }


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """An agent as `agents list` shows them: their settings and their load now."""

    config: AgentConfig
    available: bool
    open_conversations: int
    #: Whether they have a personal access token for the agent API (never the token).
    has_token: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.config.as_dict(),
            "available": self.available,
            "open_conversations": self.open_conversations,
            "token": self.has_token,
        }


@dataclass(frozen=True, slots=True)
class InboxStatus:
    """An inbox as `inboxes list` shows it."""

    name: str
    default: bool
    open_conversations: int
    #: The enabled agents who work this inbox: those who list it and those who list none.
    agents: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "default": self.default,
            "open_conversations": self.open_conversations,
            "agents": list(self.agents),
        }


@dataclass(frozen=True, slots=True)
class DeskConfig:
    """Everything a config file describes."""

    apps: tuple[AppConfig, ...] = ()
    inboxes: tuple[str, ...] = ()
    agents: tuple[AgentConfig, ...] = ()
    #: None: the first inbox.
    default_inbox: str | None = None
