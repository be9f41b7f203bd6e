"""Rules on authentication status (docs/rules.md): a `rules.toml` the engine consults.

A rules file is a list of `[[rules]]`, each with a `when` (conditions, all must hold) and a
`then` (actions)::

    [[rules]]
    name = "Returns for trusted customers"
    [rules.when]
    trigger = "routing"              # routing (default) | message | identity, or a list
    identity_state = "TRUSTED"       # ANONYMOUS | CLAIMED | TRUSTED, or a list
    keywords = ["return", "refund"]  # any of them in the customer's first message
    [rules.then]
    route = "Returns"
    bot_message = "Hi {first_name}, I can see your recent orders."

Conditions: `trigger`, `identity_state`, `identity_source`, `trust_timing`
(`before_routing` | `after_routing` | `untrusted`), `keywords` (first customer message),
`message_keywords` (the message that fired the rule), `inbox`, `app`. A keyword matches
case-insensitively at the start of a word, so `return` matches "Returns" and "returned".
Actions: `bot_message` (placeholders `{first_name}`, `{name}`), `login_prompt = true`,
`route` (an inbox), `tag` (a tag or a list), `require_login = true`.

Order: every matching rule applies, in file order, and its actions run in the order
bot_message, login_prompt, tag, route, require_login. A rule with `stop = true` ends the
evaluation when it matches. The first matching `route` wins, and later rules see its inbox in
their `inbox` condition (at routing, `inbox` is otherwise the default inbox). A login prompt
and each tag are sent at most once per evaluation. `route` and `require_login` only take
effect on the `routing` trigger (a file asking otherwise is refused).

A bad file raises `RulesError` naming the file, the line and the reason. `RuleBook` reloads
the file when it changes (checked at most once a second) and keeps the previous rules in
force while the new file is bad. A desk's rules live in `<database>.rules.toml`, or where the
`rules_path` setting says (relative to the database's folder): see `rules_for_desk`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from string import Formatter
from typing import TYPE_CHECKING, Any

from core.contacts import MAX_NAME_LENGTH
from core.engine.hooks import MAX_MESSAGE_CHARS, RuleAction, RuleFacts
from core.errors import FileLineError
from core.store.schema import IDENTITY_SOURCES, IDENTITY_STATES

if TYPE_CHECKING:
    from core.store import Desk

log = logging.getLogger(__name__)

TRIGGERS = ("routing", "message", "identity")
TRUST_TIMINGS = ("before_routing", "after_routing", "untrusted")
PLACEHOLDERS = ("first_name", "name")
#: Where a desk's rules live when the `rules_path` setting does not say: beside the database.
RULES_SUFFIX = ".rules.toml"
RULES_PATH_SETTING = "rules_path"
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
_TOML_POSITION_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


class RulesError(FileLineError):
    """A rules file that cannot be used: names the file, the line and the reason."""

    code = "bad_rules"


# -- matching -------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Case- and compatibility-folded text, so `ＲＥＴＵＲＮ` and `Return` match `return`."""
    return unicodedata.normalize("NFKC", text).casefold()


def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
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


# -- loading ---------------------------------------------------------------------------------


class _Locator:
    """Finds the line of a rule or of one of its keys in the file text, for error messages."""

    _HEADER_RE = re.compile(r"^\s*\[\[\s*rules\s*\]\]")
    _TABLE_RE = re.compile(r"^\s*\[")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers = [i + 1 for i, line in enumerate(self.lines) if self._HEADER_RE.match(line)]

    def rule(self, index: int) -> int | None:
        return self.headers[index] if index < len(self.headers) else None

    def key(self, index: int, key: str, section: str | None = None) -> int | None:
        """The line of `key` inside rule `index` (in its `when`/`then` part when given)."""
        start = self.rule(index)
        if start is None:
            return None
        end = self.headers[index + 1] - 1 if index + 1 < len(self.headers) else len(self.lines)
        name = rf"(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')"
        prefix = rf"(?:{section}\s*\.\s*)?" if section else ""
        pattern = re.compile(rf"^\s*{prefix}{name}\s*=")
        inline = re.compile(rf"[{{,]\s*{name}\s*=") if section else None
        for number in range(start, end + 1):
            line = self.lines[number - 1]
            if pattern.match(line) or (inline is not None and inline.search(line)):
                return number
        return start


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


def _parse_rule(
    raw: object, index: int, locate: _Locator, inboxes: frozenset[str] | None
) -> Rule | None:
    """One `[[rules]]` table; raises `_Bad(line, reason)`; None for a disabled rule."""
    line = locate.rule(index) or 0
    label = f"rule {index + 1}"
    if not isinstance(raw, dict):
        raise _Bad(line, f"{label}: expected a table")
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
    when = raw.get("when", {})
    then = raw.get("then")
    if not isinstance(when, dict):
        raise _Bad(locate.key(index, "when"), f"{label}: when: expected a table of conditions")
    if not isinstance(then, dict) or not then:
        raise _Bad(line, f"{label}: no actions; add a [rules.then] table")
    values: dict[str, Any] = {"name": name.strip(), "line": line}

    def fail(section: str, key: str, reason: str) -> _Bad:
        return _Bad(locate.key(index, key, section), f"{label}: {reason}")

    for key, value in when.items():
        try:
            if key == "trigger":
                values["triggers"] = _strings(value, "when.trigger", allowed=TRIGGERS)
            elif key == "identity_state":
                values["identity_states"] = _strings(
                    value, "when.identity_state", allowed=IDENTITY_STATES
                )
            elif key == "identity_source":
                values["identity_sources"] = _strings(
                    value, "when.identity_source", allowed=IDENTITY_SOURCES
                )
            elif key == "trust_timing":
                values["trust_timings"] = _strings(
                    value, "when.trust_timing", allowed=TRUST_TIMINGS
                )
            elif key == "inbox":
                values["inboxes"] = _strings(value, "when.inbox")
                _check_inboxes(values["inboxes"], inboxes, "when.inbox")
            elif key == "app":
                values["apps"] = _strings(value, "when.app")
            elif key in ("keywords", "message_keywords"):
                values[key] = _keyword_pattern(_strings(value, f"when.{key}"))
            else:
                raise ValueError(
                    f"when: unknown condition {key!r} (one of: {', '.join(_WHEN_KEYS)})"
                )
        except ValueError as exc:
            raise fail("when", key, str(exc)) from None
    for key, value in then.items():
        try:
            if key == "bot_message":
                values["bot_message"] = _template(value)
            elif key in ("login_prompt", "require_login"):
                values[key] = _flag(value, f"then.{key}")
            elif key == "tag":
                values["tags"] = _tags(value)
            elif key == "route":
                if not isinstance(value, str) or not value.strip():
                    raise ValueError("then.route: expected an inbox name")
                values["route"] = value.strip()
                _check_inboxes((values["route"],), inboxes, "then.route")
            else:
                raise ValueError(f"then: unknown action {key!r} (one of: {', '.join(_THEN_KEYS)})")
        except ValueError as exc:
            raise fail("then", key, str(exc)) from None
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
        message = str(exc)
        found = _TOML_POSITION_RE.search(message)
        if found is None:
            raise RulesError(path, None, f"not valid TOML: {message}") from None
        reason = f"not valid TOML: {message[: found.start()]} (column {found.group(2)})"
        raise RulesError(path, int(found.group(1)), reason) from None
    locate = _Locator(text)
    for key in data:
        if key != "rules":
            line = next(
                (
                    n
                    for n, s in enumerate(locate.lines, 1)
                    if re.match(rf"^\s*\[*\s*{re.escape(key)}\b", s)
                ),
                None,
            )
            raise RulesError(
                path, line, f"unknown top-level key {key!r}; rules go in [[rules]] tables"
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
    try:
        size = path.stat().st_size
        if size > MAX_RULES_BYTES:
            raise RulesError(path, None, f"{size} bytes is over the limit of {MAX_RULES_BYTES}")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RulesError(path, None, "no such rules file") from None
    except IsADirectoryError:
        raise RulesError(path, None, "is a directory, not a rules file") from None
    except OSError as exc:
        raise RulesError(path, None, f"cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RulesError(path, line, "not UTF-8 text") from None
    return parse_rules(text, path=path, inboxes=inboxes)


# -- reloading --------------------------------------------------------------------------------


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class RuleBook:
    """The rules of a file, reloaded when the file changes.

    The file is checked at most once per `check_interval_s` (a stat call), so an edit takes
    effect within a second by default. The first load raises `RulesError` for a bad file.
    Later, a bad file is logged and kept in `error`, and the previous rules stay in force
    until the file is fixed. A removed file means no rules.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        inboxes: frozenset[str] | None = None,
        check_interval_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.inboxes = inboxes
        self.error: RulesError | None = None
        self.check_interval_s = check_interval_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._signature = _signature(self.path)
        self._rules = load_rules(self.path, inboxes=inboxes)
        self._checked_at = monotonic()

    @property
    def rules(self) -> RuleSet:
        """The rules in force, after picking up any change to the file."""
        now = self._monotonic()
        if now - self._checked_at >= self.check_interval_s:
            self._checked_at = now
            if _signature(self.path) != self._signature:
                self.reload()
        return self._rules

    def reload(self) -> bool:
        """Re-read the file now. True when new rules took effect; False keeps the old ones."""
        with self._lock:
            signature = _signature(self.path)
            self._signature = signature
            if signature is None:
                self._rules, self.error = RuleSet(source=str(self.path)), None
                log.info("%s: removed; no rules in force", self.path)
                return True
            try:
                rules = load_rules(self.path, inboxes=self.inboxes)
            except RulesError as exc:
                self.error = exc
                log.warning("%s; keeping the previous %d rules", exc, len(self._rules))
                return False
            self._rules, self.error = rules, None
            log.info("%s: loaded %d rules", self.path, len(rules))
            return True

    def wants(self, trigger: str) -> bool:
        return self.rules.wants(trigger)

    def evaluate(self, facts: RuleFacts) -> list[RuleAction]:
        return self.rules.evaluate(facts)


def rules_path_for(desk: Desk) -> Path:
    """Where a desk's rules live: the `rules_path` setting (relative to the database's folder),
    else `<database>.rules.toml` beside it."""
    configured = desk.setting(RULES_PATH_SETTING)
    if configured:
        return desk.path.parent / os.path.expanduser(configured)
    return desk.path.with_name(desk.path.name + RULES_SUFFIX)


def rules_for_desk(desk: Desk) -> RuleBook | None:
    """The desk's reloadable rules, or None when it has no rules file.

    Route targets are checked against the desk's inboxes. A bad file raises `RulesError`.
    """
    path = rules_path_for(desk)
    if not path.exists() and desk.setting(RULES_PATH_SETTING) is None:
        return None
    inboxes = frozenset(row[0] for row in desk.query("SELECT name FROM inboxes"))
    return RuleBook(path, inboxes=inboxes)
