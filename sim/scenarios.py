"""Scenario scripts: a small TOML step language for simulated customers
(docs/authentication-orders.md). This module reads and checks them; `sim.script_run` plays one.

A script names its people and lists what happens, one `[[steps]]` table per step::

    name = "undesired"                    # must match the file name
    title = "Undesired: logs in after routing with the same email"
    order = 4                             # one of the five authentication orders, if it is one
    mix_weight = 1.0                      # share in the random mix; 0 keeps it out

    [topic]                               # default text for {question} {answer} {thanks}
    question = "Where is my order?"

    [customers.julie]                     # a person; the random mix recasts them
    name = "Julie Martin"
    email = "julie.martin@example.org"    # or phone = "+12065550001" (E.164)
    cast = "any"                          # any | returning (has history) | new

    [[steps]]
    do = "open"                           # open the widget (always the first step)
    narrate = "The customer opens the chat."   # the trainer's one line of narration
    hint = "Nothing to do yet."                # what the agent should do now

Actions: `open` (app; login_as: the site passes that person's signed token at init, so the
widget opens logged in), `onboarding` (as), `set_user` (as; claimed), `login` (as, ttl_s; a JWT
minted at run time so a script never holds an expired token), `logout`, `say` (text,
expect_trusted), `wait` (seconds), `reply` (text, agent), `login_prompt` (agent), `close`
(agent), `bad_token` (kind: tampered | garbage | alg_none | too_large; expect: a rejection
code), `end`. Texts may use `{question}`, `{answer}`, `{thanks}` and `{first_name}`.

A bad script raises `ScenarioError` naming the file, the line and the reason.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.contacts import normalize_email, normalize_name, normalize_phone
from core.errors import DeskError, FileLineError, NotFound
from sim.project_files import SCENARIOS_DIR

#: The five authentication orders, most ideal to most undesired (docs/authentication-orders.md).
ORDERS = ("most-ideal", "ideal", "standard", "undesired", "most-undesired")
MAX_SCRIPT_BYTES = 256 * 1024
MAX_STEPS = 200
MAX_WAIT_S = 24 * 3600
#: How the random mix recasts a person: a fixture customer with history, a new one, or either.
CASTS = ("any", "returning", "new")
BAD_TOKEN_KINDS = ("tampered", "garbage", "alg_none", "too_large")
PLACEHOLDERS = ("question", "answer", "thanks", "first_name")
_COMMON = {"do": str, "narrate": str, "hint": str}
#: For each action, its keys and their types (`as` names a person of the script).
ACTIONS: dict[str, dict[str, Any]] = {
    "open": {"app": str, "login_as": str},
    "onboarding": {"as": str},
    "set_user": {"as": str},
    "login": {"as": str, "ttl_s": int},
    "logout": {},
    "say": {"text": str, "expect_trusted": bool},
    "wait": {"seconds": (int, float)},
    "reply": {"text": str, "agent": str},
    "login_prompt": {"agent": str},
    "close": {"agent": str},
    "bad_token": {"kind": str, "expect": str},
    "end": {},
}
_REQUIRED = {
    "onboarding": ("as",),
    "set_user": ("as",),
    "login": ("as",),
    "say": ("text",),
    "wait": ("seconds",),
    "reply": ("text",),
    "bad_token": ("kind",),
}
_TOP_KEYS = {"name", "title", "summary", "order", "mix_weight", "topic", "customers", "steps"}
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


class ScenarioError(FileLineError):
    """A script that cannot be used: names the file, the line and the reason."""

    code = "bad_scenario"


# -- the script model -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """Someone a script plays: a name and exactly one of email / phone (normalized)."""

    name: str
    email: str | None = None
    phone: str | None = None
    cast: str = "any"

    @property
    def contact(self) -> str:
        return self.email or self.phone or ""


@dataclass(frozen=True, slots=True)
class Topic:
    question: str = "Where is my order? It said 2 days and it's been 5."
    answer: str = "Your parcel is with the courier and due tomorrow. Here's the tracking link."
    thanks: str = "Thanks!"


@dataclass(frozen=True, slots=True)
class Step:
    index: int
    line: int
    action: str
    params: Mapping[str, Any]
    narrate: str | None = None
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    summary: str
    path: Path
    order: int | None
    mix_weight: float
    topic: Topic
    people: Mapping[str, Person]
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Cast:
    """Who plays each person of a script, and what they talk about."""

    people: Mapping[str, Person]
    topic: Topic


def default_cast(scenario: Scenario) -> Cast:
    return Cast(dict(scenario.people), scenario.topic)


# -- loading ---------------------------------------------------------------------------------


class _Lines:
    """Line numbers of tables and keys in the script text, for error messages."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.steps = [
            number
            for number, line in enumerate(self.lines, 1)
            if re.match(r"^\s*\[\[\s*steps\s*\]\]", line)
        ]

    def step(self, index: int) -> int | None:
        return self.steps[index] if index < len(self.steps) else self._find(r"steps\s*=")

    def step_key(self, index: int, key: str) -> int | None:
        start = self.step(index)
        if start is None or index >= len(self.steps):
            return start
        end = self.steps[index + 1] if index + 1 < len(self.steps) else len(self.lines) + 1
        pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        for number in range(start + 1, end):
            if pattern.match(self.lines[number - 1]):
                return number
        return start

    def table(self, dotted: str) -> int | None:
        return self._find(rf"\[\s*{re.escape(dotted)}\s*\]") or self._find(
            rf"{re.escape(dotted.split('.')[-1])}\s*="
        )

    def key(self, key: str) -> int | None:
        return self._find(rf"{re.escape(key)}\s*=") or self._find(rf"\[+\s*{re.escape(key)}\b")

    def _find(self, pattern: str) -> int | None:
        regex = re.compile(rf"^\s*{pattern}")
        return next((n for n, line in enumerate(self.lines, 1) if regex.match(line)), None)


class _Bad(Exception):
    def __init__(self, line: int | None, reason: str) -> None:
        self.line = line
        self.reason = reason


def _type_name(expected: Any) -> str:
    if expected is bool:
        return "true or false"
    if expected is int:
        return "a whole number"
    if expected == (int, float):
        return "a number"
    return "text"


def _check_type(value: Any, expected: Any) -> bool:
    if isinstance(value, bool):
        return expected is bool
    return isinstance(value, expected)


def load_scenario(path: Path | str) -> Scenario:
    """Read and check one script; a bad one raises ScenarioError (file, line, reason)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(path, None, "no such scenario file") from None
    except OSError as exc:
        raise ScenarioError(path, None, f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_SCRIPT_BYTES:
        raise ScenarioError(path, None, f"larger than {MAX_SCRIPT_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(path, raw[: exc.start].count(b"\n") + 1, "not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ScenarioError(path, int(match.group(1)) if match else None, reason) from None
    try:
        return _parse(path, data, _Lines(text))
    except _Bad as bad:
        raise ScenarioError(path, bad.line, bad.reason) from None


def _parse(path: Path, data: dict[str, Any], lines: _Lines) -> Scenario:
    for key in data:
        if key not in _TOP_KEYS:
            raise _Bad(
                lines.key(key), f"unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})"
            )
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise _Bad(lines.key("name"), "name: use lower-case letters, digits and dashes")
    if name != path.stem:
        raise _Bad(lines.key("name"), f"name {name!r} does not match the file name {path.stem!r}")
    title = data.get("title", name)
    summary = data.get("summary", "")
    for key, value in (("title", title), ("summary", summary)):
        if not isinstance(value, str):
            raise _Bad(lines.key(key), f"{key}: expected text")
    order = data.get("order")
    if order is not None and (
        not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= len(ORDERS)
    ):
        raise _Bad(lines.key("order"), f"order: expected 1 to {len(ORDERS)}")
    weight = data.get("mix_weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 100:
        raise _Bad(lines.key("mix_weight"), "mix_weight: expected a number from 0 to 100")
    topic = _parse_topic(data.get("topic", {}), lines)
    people = _parse_people(data.get("customers", {}), lines)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise _Bad(lines.key("steps"), "no steps; add [[steps]] tables")
    if len(raw_steps) > MAX_STEPS:
        raise _Bad(lines.step(MAX_STEPS), f"more than {MAX_STEPS} steps")
    steps = tuple(_parse_step(index, raw, people, lines) for index, raw in enumerate(raw_steps))
    if steps[0].action != "open":
        raise _Bad(steps[0].line, 'the first step must be do = "open" (the widget opens first)')
    for step in steps[1:]:
        if step.action == "open":
            raise _Bad(step.line, "only the first step may open the widget")
    for step in steps[:-1]:
        if step.action == "end":
            raise _Bad(step.line, 'do = "end" must be the last step')
    return Scenario(
        name=name,
        title=title,
        summary=summary,
        path=path,
        order=order,
        mix_weight=float(weight),
        topic=topic,
        people=people,
        steps=steps,
    )


def _parse_topic(raw: Any, lines: _Lines) -> Topic:
    line = lines.table("topic")
    if not isinstance(raw, dict):
        raise _Bad(line, "topic: expected a table with question, answer, thanks")
    defaults = Topic()
    values = {}
    for key in raw:
        if key not in ("question", "answer", "thanks"):
            raise _Bad(line, f"topic: unknown key {key!r} (known: question, answer, thanks)")
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise _Bad(line, f"topic.{key}: expected non-empty text")
        values[key] = raw[key].strip()
    return Topic(
        question=values.get("question", defaults.question),
        answer=values.get("answer", defaults.answer),
        thanks=values.get("thanks", defaults.thanks),
    )


def _parse_people(raw: Any, lines: _Lines) -> dict[str, Person]:
    if not isinstance(raw, dict):
        raise _Bad(lines.table("customers"), "customers: expected tables like [customers.julie]")
    people = {}
    for key, entry in raw.items():
        line = lines.table(f"customers.{key}")
        if not isinstance(entry, dict):
            raise _Bad(line, f"customers.{key}: expected a table")
        unknown = set(entry) - {"name", "email", "phone", "cast"}
        if unknown:
            raise _Bad(
                line,
                f"customers.{key}: unknown key {sorted(unknown)[0]!r} (known: name, email, phone, cast)",
            )
        if ("email" in entry) == ("phone" in entry):
            raise _Bad(line, f"customers.{key}: give exactly one of email or phone")
        cast = entry.get("cast", "any")
        if cast not in CASTS:
            raise _Bad(line, f"customers.{key}: cast must be one of {', '.join(CASTS)}")
        try:
            person = Person(
                name=normalize_name(entry.get("name")) or "",
                email=normalize_email(entry["email"]) if "email" in entry else None,
                phone=normalize_phone(entry["phone"]) if "phone" in entry else None,
                cast=cast,
            )
        except DeskError as exc:
            raise _Bad(line, f"customers.{key}: {exc}") from None
        people[key] = person
    return people


def _parse_step(index: int, raw: Any, people: Mapping[str, Person], lines: _Lines) -> Step:
    line = lines.step(index)
    label = f"step {index + 1}"
    if not isinstance(raw, dict):
        raise _Bad(line, f"{label}: expected a [[steps]] table")
    action = raw.get("do")
    if not isinstance(action, str) or action not in ACTIONS:
        raise _Bad(
            lines.step_key(index, "do"),
            f"{label}: do = {action!r} is not an action (known: {', '.join(ACTIONS)})",
        )
    allowed = {**_COMMON, **ACTIONS[action]}
    for key, value in raw.items():
        key_line = lines.step_key(index, key)
        if key not in allowed:
            known = ", ".join(k for k in allowed if k != "do") or "none"
            raise _Bad(key_line, f"{label} ({action}): unknown key {key!r} (known: {known})")
        if not _check_type(value, allowed[key]):
            raise _Bad(key_line, f"{label} ({action}): {key} must be {_type_name(allowed[key])}")
    for key in _REQUIRED.get(action, ()):
        if key not in raw:
            raise _Bad(line, f"{label} ({action}): {key} is required")
    params = {k: v for k, v in raw.items() if k not in _COMMON}
    _check_values(action, params, people, lines.step_key, index, label)
    return Step(
        index=index,
        line=line or 0,
        action=action,
        params=params,
        narrate=raw.get("narrate"),
        hint=raw.get("hint"),
    )


def _check_values(
    action: str,
    params: dict[str, Any],
    people: Mapping[str, Person],
    where: Callable[[int, str], int | None],
    index: int,
    label: str,
) -> None:
    for key in ("as", "login_as"):
        if key in params and params[key] not in people:
            known = ", ".join(people) or "none; add [customers.NAME] tables"
            raise _Bad(
                where(index, key),
                f"{label} ({action}): no person {params[key]!r} (known: {known})",
            )
    if action == "wait" and not 0 < params["seconds"] <= MAX_WAIT_S:
        raise _Bad(where(index, "seconds"), f"{label} (wait): seconds must be 0 to {MAX_WAIT_S}")
    if action == "login" and "ttl_s" in params and not 0 < params["ttl_s"] <= 3600:
        raise _Bad(where(index, "ttl_s"), f"{label} (login): ttl_s must be 1 to 3600")
    if action == "bad_token" and params["kind"] not in BAD_TOKEN_KINDS:
        raise _Bad(
            where(index, "kind"),
            f"{label} (bad_token): kind must be one of {', '.join(BAD_TOKEN_KINDS)}",
        )
    if "text" in params:
        if not params["text"].strip():
            raise _Bad(where(index, "text"), f"{label} ({action}): text is empty")
        for placeholder in re.findall(r"\{([a-z_]+)\}", params["text"]):
            if placeholder not in PLACEHOLDERS:
                raise _Bad(
                    where(index, "text"),
                    f"{label} ({action}): unknown placeholder {{{placeholder}}}"
                    f" (known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})",
                )


def load_scenarios(folder: Path | str = SCENARIOS_DIR) -> dict[str, Scenario]:
    """Every `*.toml` script in `folder`, by name; the five orders first, in order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScenarioError(folder, None, "no such scenarios folder")
    found = {path.stem: load_scenario(path) for path in sorted(folder.glob("*.toml"))}
    ordered = [name for name in ORDERS if name in found]
    return {name: found[name] for name in [*ordered, *sorted(set(found) - set(ordered))]}


def find_scenario(name: str, folder: Path | str = SCENARIOS_DIR) -> Scenario:
    """The script called `name` (a file `name.toml` in `folder`)."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise NotFound(f"scenario {str(name)[:40]!r}: names are lower-case words with dashes")
    path = Path(folder) / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(load_scenarios(folder)) if Path(folder).is_dir() else ""
        raise NotFound(f"no scenario {name!r} (known: {known or 'none'})")
    return load_scenario(path)
