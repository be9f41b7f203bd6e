"""Matching a rule's conditions to the facts and collecting the actions of those that match.

`RuleSet.evaluate` is the engine's `Rules` protocol (`core.engine.hooks`): every matching rule
applies, in file order, its actions in the order bot_message, login_prompt, tag, route,
require_login; `stop = true` ends the evaluation (docs/rules.md).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from core.engine.hooks import RuleAction, RuleFacts

TRIGGERS = ("routing", "message", "identity")


def _fold(text: str) -> str:
    """Case- and compatibility-folded text, so `ＲＥＴＵＲＮ` and `Return` match `return`."""
    return unicodedata.normalize("NFKC", text).casefold()


def keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    """One regex matching any keyword at the start of a word (phrases keep their spaces)."""
    alternatives = sorted({re.escape(_fold(k)) for k in keywords}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + ")")


@dataclass(frozen=True, slots=True)
class Rule:
    """One parsed rule. Empty condition tuples mean "any"."""

    name: str
    line: int
    triggers: tuple[str, ...] = ("routing",)
    identity_states: tuple[str, ...] = ()
    identity_sources: tuple[str, ...] = ()
    trust_timings: tuple[str, ...] = ()
    inboxes: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()
    keywords: re.Pattern[str] | None = None
    message_keywords: re.Pattern[str] | None = None
    bot_message: str | None = None
    login_prompt: bool = False
    tags: tuple[str, ...] = ()
    route: str | None = None
    require_login: bool = False
    stop: bool = False

    def matches(self, facts: RuleFacts) -> bool:
        if facts.trigger not in self.triggers:
            return False
        if self.identity_states and facts.identity_state not in self.identity_states:
            return False
        if self.identity_sources and facts.identity_source not in self.identity_sources:
            return False
        if self.trust_timings and (facts.trust_timing or "untrusted") not in self.trust_timings:
            return False
        if self.inboxes and facts.inbox not in self.inboxes:
            return False
        if self.apps and facts.app_id not in self.apps:
            return False
        if self.keywords is not None and not self.keywords.search(_fold(facts.first_message)):
            return False
        return self.message_keywords is None or bool(
            self.message_keywords.search(_fold(facts.message))
        )


def render_template(template: str, facts: RuleFacts) -> str:
    """Fill `{first_name}` / `{name}`; a missing name reads "there" ("Hi there")."""
    first = facts.first_name or "there"
    return template.format_map({"first_name": first, "name": facts.name or first})


class RuleSet:
    """An ordered list of rules; `evaluate` is the engine's `Rules` protocol.

    `wants(trigger)` says whether any rule listens to a trigger, so the engine can skip
    gathering facts for the others (most messages, with the demo rules).
    """

    __slots__ = ("_by_trigger", "rules", "source", "triggers")

    def __init__(self, rules: tuple[Rule, ...] = (), source: str = "") -> None:
        self.rules = rules
        self.source = source
        self._by_trigger = {t: tuple(r for r in rules if t in r.triggers) for t in TRIGGERS}
        self.triggers = frozenset(t for t, listening in self._by_trigger.items() if listening)

    def wants(self, trigger: str) -> bool:
        return trigger in self.triggers

    def evaluate(self, facts: RuleFacts) -> list[RuleAction]:
        candidates = self._by_trigger.get(facts.trigger, ())
        if not candidates:
            return []
        actions: list[RuleAction] = []
        routed = prompted = held = False
        tagged: set[str] = set()
        at_routing = facts.trigger == "routing"
        for rule in candidates:
            if not rule.matches(facts):
                continue
            if rule.bot_message is not None:
                actions.append(RuleAction("bot_message", render_template(rule.bot_message, facts)))
            if rule.login_prompt and not prompted:
                prompted = True
                actions.append(RuleAction("login_prompt"))
            for tag in rule.tags:
                if tag not in tagged:
                    tagged.add(tag)
                    actions.append(RuleAction("tag", tag))
            if at_routing and rule.route is not None and not routed:
                routed = True
                actions.append(RuleAction("route", rule.route))
                # Later rules see the inbox this one chose.
                facts = replace(facts, inbox=rule.route)
            if at_routing and rule.require_login and not held:
                held = True
                actions.append(RuleAction("require_login"))
            if rule.stop:
                break
        return actions

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"RuleSet({len(self.rules)} rules from {self.source or 'text'})"
