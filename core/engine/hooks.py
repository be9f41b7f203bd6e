"""What the engine and the rules share: the facts a rule sees, the actions it returns, and
the message limit. `core.rules` implements `Rules`; the engine calls it. Neither imports the
other's module for these types, so there is no cycle between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: Longest customer, agent or rendered bot message accepted, in characters (README).
MAX_MESSAGE_CHARS = 4000


@dataclass(frozen=True, slots=True)
class RuleFacts:
    """What a rule may look at. `trigger` is `routing`, `message` or `identity`."""

    trigger: str
    app_id: str
    identity_state: str
    identity_source: str
    trust_timing: str | None  # before_routing | after_routing | None (not trusted)
    first_message: str
    message: str
    inbox: str | None
    name: str | None
    first_name: str
    conversation_id: int | None


@dataclass(frozen=True, slots=True)
class RuleAction:
    """`bot_message` (templated text), `login_prompt`, `route` (inbox), `tag`, `require_login`."""

    kind: str
    value: str = ""


class Rules(Protocol):
    def wants(self, trigger: str) -> bool:
        """Whether any rule listens to this trigger (lets the engine skip building facts)."""
        ...

    def evaluate(self, facts: RuleFacts) -> list[RuleAction]: ...


class NoRules:
    def wants(self, trigger: str) -> bool:
        return False

    def evaluate(self, facts: RuleFacts) -> list[RuleAction]:
        return []
