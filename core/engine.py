"""The conversation engine: widget sessions, identity, per-message trust, routing, agent actions.

`Engine` puts together the shared machinery (`core.engine_base`), the widget sessions
(`core.sessions`), the agent actions (`core.agent_actions`) and the reads
(`core.desk_reads`). Every public method is one transaction and appends to the `events`
change feed, so consoles and servers sharing the database file see it.
"""

from __future__ import annotations

from core.agent_actions import AgentActions
from core.desk_reads import DeskReads
from core.engine_base import (
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
from core.sessions import WidgetSessions

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
