"""Reading a rules file: TOML text checked and turned into a `RuleSet`.

Every condition and action is checked when the file is read, so a bad file raises
`RulesError` naming the file, the line and the reason, before any rule runs. `inboxes`, when
given, are the names `when.inbox` and `then.route` may use.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from string import Formatter
from typing import Any

from core.contacts import MAX_NAME_LENGTH
from core.engine.hooks import MAX_MESSAGE_CHARS
from core.errors import FileLineError
from core.rules.evaluate import TRIGGERS, Rule, RuleSet, keyword_pattern
from core.store.schema import IDENTITY_SOURCES, IDENTITY_STATES
from core.toml_lines import TableLocator, read_text, syntax_error

TRUST_TIMINGS = ("before_routing", "after_routing", "untrusted")
PLACEHOLDERS = ("first_name", "name")
#: Larger rules files are refused before parsing: nobody writes a megabyte of rules.
MAX_RULES_BYTES = 1 << 20
MAX_BOT_MESSAGE_CHARS = 2000
MAX_TAG_CHARS = 40
_TAG_RE = re.compile(r"[\w][\w .:/-]*")
_WHEN_KEYS = (
    "trigger",
    "identity_state",
    "identity_source",
    "trust_timing",
    "keywords",
    "message_keywords",
    "inbox",
    "app",
)
_THEN_KEYS = ("bot_message", "login_prompt", "tag", "route", "require_login")
_RULE_KEYS = ("name", "enabled", "stop", "when", "then")


class RulesError(FileLineError):
    """A rules file that cannot be used: names the file, the line and the reason."""

    code = "bad_rules"


def _strings(
    value: object, what: str, *, allowed: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    """A string or a non-empty list of strings, each one of `allowed` when given."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError(f"{what}: expected a string or a non-empty list of strings")
    out = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{what}: expected non-empty strings, got {item!r}")
        if allowed is not None and item not in allowed:
            raise ValueError(f"{what}: unknown value {item!r} (one of: {', '.join(allowed)})")
        out.append(item.strip())
    return tuple(out)


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{what}: expected true or false, got {value!r}")
    return value


def _template(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("then.bot_message: expected non-empty text")
    if len(value) > MAX_BOT_MESSAGE_CHARS:
        raise ValueError(f"then.bot_message: longer than {MAX_BOT_MESSAGE_CHARS} characters")
    try:
        fields = list(Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(
            f"then.bot_message: {exc} (write a literal brace as {{{{ or }}}})"
        ) from None
    placeholders = 0
    for _literal, name, spec, conversion in fields:
        if name is None:
            continue
        placeholders += 1
        if name not in PLACEHOLDERS or spec or conversion:
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise ValueError(
                f"then.bot_message: unknown placeholder {shown}"
                f" (use {', '.join('{' + p + '}' for p in PLACEHOLDERS)})"
            )
    longest = len(value) + placeholders * MAX_NAME_LENGTH
    if longest > MAX_MESSAGE_CHARS:
        raise ValueError(
            f"then.bot_message: with {placeholders} placeholders and names of up to"
            f" {MAX_NAME_LENGTH} characters it could reach {longest} characters, over the"
            f" message limit of {MAX_MESSAGE_CHARS}"
        )
    return value


def _tags(value: object) -> tuple[str, ...]:
    tags = _strings(value, "then.tag")
    for tag in tags:
        if len(tag) > MAX_TAG_CHARS or not _TAG_RE.fullmatch(tag):
            raise ValueError(
                f"then.tag: {tag!r} is not a tag (letters, digits, space . : / - _;"
                f" at most {MAX_TAG_CHARS} characters)"
            )
    return tags


def _rule_name(raw: dict[str, Any], index: int, locate: TableLocator) -> tuple[str, str]:
    """The rule's name and its label in error messages, once its keys are checked."""
    label = f"rule {index + 1}"
    name = raw.get("name", label)
    if not isinstance(name, str) or not name.strip():
        raise _Bad(locate.key(index, "name"), f"{label}: name: expected non-empty text")
    label = f"rule {name!r}" if "name" in raw else label
    for key in raw:
        if key not in _RULE_KEYS:
            raise _Bad(
                locate.key(index, key),
                f"{label}: unknown key {key!r} (allowed: {', '.join(_RULE_KEYS)})",
            )
    return name, label


def _condition(key: str, value: object, inboxes: frozenset[str] | None) -> tuple[str, Any]:
    """The `Rule` field and value of one `when` condition; ValueError says what is wrong."""
    if key == "trigger":
        return "triggers", _strings(value, "when.trigger", allowed=TRIGGERS)
    if key == "identity_state":
        return "identity_states", _strings(value, "when.identity_state", allowed=IDENTITY_STATES)
    if key == "identity_source":
        return "identity_sources", _strings(value, "when.identity_source", allowed=IDENTITY_SOURCES)
    if key == "trust_timing":
        return "trust_timings", _strings(value, "when.trust_timing", allowed=TRUST_TIMINGS)
    if key == "inbox":
        names = _strings(value, "when.inbox")
        _check_inboxes(names, inboxes, "when.inbox")
        return "inboxes", names
    if key == "app":
        return "apps", _strings(value, "when.app")
    if key in ("keywords", "message_keywords"):
        return key, keyword_pattern(_strings(value, f"when.{key}"))
    raise ValueError(f"when: unknown condition {key!r} (one of: {', '.join(_WHEN_KEYS)})")


def _action(key: str, value: object, inboxes: frozenset[str] | None) -> tuple[str, Any]:
    """The `Rule` field and value of one `then` action; ValueError says what is wrong."""
    if key == "bot_message":
        return "bot_message", _template(value)
    if key in ("login_prompt", "require_login"):
        return key, _flag(value, f"then.{key}")
    if key == "tag":
        return "tags", _tags(value)
    if key == "route":
        if not isinstance(value, str) or not value.strip():
            raise ValueError("then.route: expected an inbox name")
        _check_inboxes((value.strip(),), inboxes, "then.route")
        return "route", value.strip()
    raise ValueError(f"then: unknown action {key!r} (one of: {', '.join(_THEN_KEYS)})")


def _parse_rule(
    raw: object, index: int, locate: TableLocator, inboxes: frozenset[str] | None
) -> Rule | None:
    """One `[[rules]]` table; raises `_Bad(line, reason)`; None for a disabled rule."""
    line = locate.entry(index) or 0
    if not isinstance(raw, dict):
        raise _Bad(line, f"rule {index + 1}: expected a table")
    name, label = _rule_name(raw, index, locate)
    when = raw.get("when", {})
    then = raw.get("then")
    if not isinstance(when, dict):
        raise _Bad(locate.key(index, "when"), f"{label}: when: expected a table of conditions")
    if not isinstance(then, dict) or not then:
        raise _Bad(line, f"{label}: no actions; add a [rules.then] table")
    values: dict[str, Any] = {"name": name.strip(), "line": line}

    def fail(section: str, key: str, reason: str) -> _Bad:
        return _Bad(locate.key(index, key, section), f"{label}: {reason}")

    for section, table, read in (("when", when, _condition), ("then", then, _action)):
        for key, value in table.items():
            try:
                field, parsed = read(key, value, inboxes)
            except ValueError as exc:
                raise fail(section, key, str(exc)) from None
            values[field] = parsed
    triggers = values.get("triggers", ("routing",))
    for key in ("route", "require_login"):
        if values.get(key) and "routing" not in triggers:
            raise fail(
                "then",
                key,
                f"then.{key} only takes effect when a conversation is routed;"
                ' add "routing" to when.trigger',
            )
    for key in ("enabled", "stop"):
        if key in raw:
            try:
                values[key] = _flag(raw[key], key)
            except ValueError as exc:
                raise _Bad(locate.key(index, key), f"{label}: {exc}") from None
    if not values.pop("enabled", True):
        return None
    return Rule(**values)


def _check_inboxes(names: tuple[str, ...], inboxes: frozenset[str] | None, what: str) -> None:
    if inboxes is None:
        return
    for name in names:
        if name not in inboxes:
            known = ", ".join(sorted(inboxes)) or "none"
            raise ValueError(f"{what}: no inbox {name!r} on this desk (known: {known})")


class _Bad(Exception):
    def __init__(self, line: int | None, reason: str) -> None:
        self.line = line
        self.reason = reason


def parse_rules(
    text: str, *, path: Path | str = "<rules>", inboxes: frozenset[str] | None = None
) -> RuleSet:
    """Parse rules from TOML text. `inboxes`, when given, are the names `route` may use."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(path, *syntax_error(exc)) from None
    locate = TableLocator(text, "rules")
    for key in data:
        if key != "rules":
            raise RulesError(
                path,
                locate.top_level(key),
                f"unknown top-level key {key!r}; rules go in [[rules]] tables",
            )
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise RulesError(path, None, "rules: expected [[rules]] tables")
    rules = []
    for index, raw in enumerate(raw_rules):
        try:
            rule = _parse_rule(raw, index, locate, inboxes)
        except _Bad as bad:
            raise RulesError(path, bad.line, bad.reason) from None
        if rule is not None:
            rules.append(rule)
    return RuleSet(tuple(rules), source=str(path))


def load_rules(path: str | Path, *, inboxes: frozenset[str] | None = None) -> RuleSet:
    """Read and parse a rules file; a bad one raises `RulesError` (file, line, reason)."""
    path = Path(path)
    text = read_text(path, max_bytes=MAX_RULES_BYTES, error=RulesError, what="rules file")
    return parse_rules(text, path=path, inboxes=inboxes)
