"""Words and short forms the console shows: identity badges, banners, waiting times, dates.

Pure functions over domain values, so tests and widgets agree on every string.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.cells import cell_len, set_cell_size

#: The trusted glyph (docs/trust-model.md). Its colour, never its presence in text, carries the meaning.
GLYPH = "✔"

_BADGES = {
    ("TRUSTED", "jwt"): "TRUSTED · jwt",
    ("CLAIMED", "onboarding_form"): "CLAIMED · form",
    ("CLAIMED", "set_user"): "CLAIMED · set_user",
    ("CLAIMED", "jwt"): "EXPIRED · jwt",
}


def badge(identity_state: str, identity_source: str) -> str:
    """The identity badge of a conversation: state and source in a few letters."""
    if identity_state == "ANONYMOUS":
        return "ANONYMOUS"
    return _BADGES.get((identity_state, identity_source), f"{identity_state} · {identity_source}")


def badge_kind(identity_state: str, identity_source: str) -> str:
    """`trusted`, `claimed`, `expired` or `anonymous`: which style the badge takes."""
    if identity_state == "TRUSTED":
        return "trusted"
    if identity_state == "CLAIMED" and identity_source == "jwt":
        return "expired"
    return "claimed" if identity_state == "CLAIMED" else "anonymous"


ASK_TO_LOG_IN = "Ask them to log in before discussing the account."

_BANNERS = {
    ("TRUSTED", "jwt"): (
        "Verified via a signed identity token (JWT). Messages sent while verified carry the"
        " trusted mark."
    ),
    ("CLAIMED", "onboarding_form"): f"Claimed via onboarding form — not verified. {ASK_TO_LOG_IN}",
    ("CLAIMED", "set_user"): f"Claimed by the website (setUser) — not verified. {ASK_TO_LOG_IN}",
    ("CLAIMED", "jwt"): (
        "Trust expired — verified earlier by a signed token, but the trust window has ended;"
        " new messages are not verified until they log in again."
    ),
}


def banner(identity_state: str, identity_source: str, trust_path: str | None = None) -> str:
    """The identity state and source in words, with what the agent should do about it."""
    if identity_state == "ANONYMOUS":
        text = (
            "Anonymous — the customer has not identified themselves or has logged out."
            f" {ASK_TO_LOG_IN}"
        )
    else:
        text = _BANNERS.get(
            (identity_state, identity_source),
            f"{identity_state.title()} via {identity_source}. {ASK_TO_LOG_IN}",
        )
    if identity_state == "TRUSTED" and trust_path == "after_routing":
        text += " They logged in after the chat was routed: earlier messages are not verified."
    return text


_TRUST_PATHS = {
    "before_routing": "trusted before routing",
    "after_routing": "trusted after routing",
    "never": "never trusted",
    "different_identity": "trusted · different identity",
}


def trust_path_words(trust_path: str | None, trusted_messages: int, customer_messages: int) -> str:
    """How a (past) conversation was authenticated, for the profile pane."""
    words = _TRUST_PATHS.get(trust_path or "")
    if words is None:
        words = "trusted" if trusted_messages else "not trusted"
    return f"{words} ({trusted_messages}/{customer_messages})"


def waiting(waiting_since: int | None, now_ms: int) -> str:
    """How long the customer has waited for a reply: `45s`, `12m`, `3h05m`, `2d04h`."""
    if waiting_since is None:
        return ""
    seconds = max(0, (now_ms - waiting_since) // 1000)
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def stamp(ms: int) -> str:
    """A timeline time, UTC: `Nov 18 10:26`."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%b %d %H:%M")


def day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def fit(text: str, width: int) -> str:
    """Exactly `width` cells: padded, or cut with an ellipsis."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…"


def fit_right(text: str, width: int) -> str:
    if cell_len(text) >= width:
        return fit(text, width)
    return " " * (width - cell_len(text)) + text
