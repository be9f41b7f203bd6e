"""The conversation engine: widget sessions, identity, per-message trust, routing, agent actions.

`Engine` puts together the shared machinery (`core.engine.base`), the widget sessions
(`core.engine.sessions`), the agent actions (`core.engine.agent_actions`) and the reads
(`core.engine.reads`). Every public method is one transaction and appends to the `events`
change feed, so consoles and servers sharing the database file see it.
"""

from __future__ import annotations

from core.engine.agent_actions import AgentActions
from core.engine.base import (
    DEFAULT_LOGIN_HOLD_S,
    MAX_MESSAGE_CHARS,
    OPEN_STATUSES,
    InvalidInput,
    NoRules,
    RuleAction,
    RuleFacts,
    Rules,
    check_body,
    hash_token,
    render,
)
from core.engine.reads import DeskReads
from core.engine.sessions import WidgetSessions

__all__ = [
    "DEFAULT_LOGIN_HOLD_S",
    "MAX_MESSAGE_CHARS",
    "OPEN_STATUSES",
    "Engine",
    "InvalidInput",
    "NoRules",
    "RuleAction",
    "RuleFacts",
    "Rules",
    "check_body",
    "hash_token",
    "render",
]


class Engine(WidgetSessions, AgentActions, DeskReads):
    """The desk's behaviour. One per process (or per thread group) over an open `Desk`."""
