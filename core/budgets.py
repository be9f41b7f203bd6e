"""The per-app flood budgets: their names, defaults and checks (docs/config.md#flood-budgets).

Three calls of the widget API can fill a desk from outside: starting a session, identifying
(the onboarding form, `setUser`) and starting a conversation (a customer's first message).
Each has a budget per client address and one for the whole app, counted as token buckets: a
budget of N a minute lets N through at once, then one every 60/N seconds. Beyond it the
server answers 429 with `Retry-After`. One more bound caps how many of an address's
conversations may wait unassigned at once. 0 turns a budget or the bound off.

The values live in each app's row (`apps`, schema v3); these are the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.errors import DeskError

#: The calls with a budget, as the columns name them.
BUDGET_KINDS = ("sessions", "identifications", "conversations")
#: Open conversations an address may have waiting unassigned (no agent yet) at once.
UNASSIGNED_SETTING = "address_unassigned_max"

#: Every setting and its default. Per address: a shop's office or a carrier's NAT shares one
#: address, so a burst of 60 and one a second after it. Per app: what a desk can take from
#: everyone at once, far above honest traffic, so that a flood from many addresses is slowed
#: too. Keep in step with schema `_v3` (a shipped migration never changes) and the docs.
BUDGET_DEFAULTS: dict[str, int] = {
    "address_sessions_per_min": 60,
    "app_sessions_per_min": 6000,
    "address_identifications_per_min": 60,
    "app_identifications_per_min": 6000,
    "address_conversations_per_min": 60,
    "app_conversations_per_min": 3000,
    UNASSIGNED_SETTING: 20,
}
#: The largest value a setting takes (a million a minute is as good as no limit).
MAX_SETTING = 1_000_000


class BudgetError(DeskError):
    """A budget setting with a value it cannot take: `setting` names it, `reason` says why."""

    def __init__(self, where: str, setting: str, reason: str) -> None:
        self.setting = setting
        self.reason = reason
        super().__init__(f"{where}: {setting} {reason}"[:300])


def check_budgets(app: Mapping[str, object], where: str) -> dict[str, int]:
    """The app's budget settings (defaults for those it leaves out), each checked.

    `where` names the app in the message, like `desk.toml: app 'retale'`.
    """
    settings = dict(BUDGET_DEFAULTS)
    for name in BUDGET_DEFAULTS:
        if name not in app:
            continue
        value = app[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise BudgetError(where, name, f"must be a whole number, not {value!r:.60}")
        if not 0 <= value <= MAX_SETTING:
            raise BudgetError(where, name, f"must be 0 (no limit) to {MAX_SETTING}, not {value}")
        settings[name] = value
    return settings
