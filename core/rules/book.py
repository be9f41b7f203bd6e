"""A desk's rules file, reloaded when it changes.

`RuleBook` checks the file at most once a second and keeps the previous rules in force while
the new file is bad. A desk's rules live in `<database>.rules.toml`, or where the `rules_path`
setting says (relative to the database's folder): see `rules_for_desk`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from core.engine.hooks import RuleAction, RuleFacts
from core.rules.evaluate import RuleSet
from core.rules.parse import RulesError, load_rules
from core.store import directory

if TYPE_CHECKING:
    from core.store import Desk

log = logging.getLogger("core.rules")

#: Where a desk's rules live when the `rules_path` setting does not say: beside the database.
RULES_SUFFIX = ".rules.toml"
RULES_PATH_SETTING = "rules_path"


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
    inboxes = frozenset(name for _id, name in directory.inboxes(desk))
    return RuleBook(path, inboxes=inboxes)
