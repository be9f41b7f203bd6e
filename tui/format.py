"""Words and short forms the console shows: identity badges, banners, waiting times, dates.

Pure functions over domain values, so tests and widgets agree on every string.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.cells import cell_len, set_cell_size

#: The trusted glyph (docs/trust-model.md). Its colour, never its presence in text, carries the
#: meaning: it marks a customer message sent while the customer was verified. In the queue it
#: stands before the conversation's last customer message, in a timeline before each message.
GLYPH = "✔"

#: What an agent calls each conversation status: who wrote last, so who acts next.
STATUS_WORDS = {"OPEN": "needs reply", "WAITING": "replied", "CLOSED": "closed"}


def status_words(status: str) -> str:
    """`needs reply` (the customer wrote last), `replied` (an agent did), `closed`."""
    return STATUS_WORDS.get(status, status.lower())


_BADGES = {
    ("TRUSTED", "jwt"): "TRUSTED · jwt",
    ("CLAIMED", "onboarding_form"): "CLAIMED · form",
    ("CLAIMED", "set_user"): "CLAIMED · set_user",
    ("CLAIMED", "jwt"): "EXPIRED · jwt",
    ("ANONYMOUS", "jwt"): "CLEARED · jwt",
    ("ANONYMOUS", "onboarding_form"): "CLEARED · form",
    ("ANONYMOUS", "set_user"): "CLEARED · set_user",
}


def badge(identity_state: str, identity_source: str) -> str:
    """The identity badge of a conversation: state and source in a few letters."""
    if identity_state == "ANONYMOUS" and identity_source == "none":
        return "ANONYMOUS"
    return _BADGES.get((identity_state, identity_source), f"{identity_state} · {identity_source}")


def badge_kind(identity_state: str, identity_source: str) -> str:
    """`trusted`, `claimed`, `expired`, `cleared` or `anonymous`: what the customer is now.

    Expired: was verified by a token, trust ended (window over or key retired). Cleared: logged
    out (`clearUser`) after identifying in this chat.
    """
    if identity_state == "TRUSTED":
        return "trusted"
    if identity_state == "CLAIMED":
        return "expired" if identity_source == "jwt" else "claimed"
    return "anonymous" if identity_source == "none" else "cleared"


ASK_TO_LOG_IN = "Ask them to log in before discussing the account."

_BANNERS = {
    "trusted": "Verified via a signed identity token (JWT){until}: what they write now is verified.",
    "expired": (
        "Trust ended — the trust window is over or its key was retired: new messages are not"
        " verified until they log in again."
    ),
    "cleared": (
        "Logged out — the customer cleared their identity, and the widget no longer sees this"
        f" chat. {ASK_TO_LOG_IN}"
    ),
    "anonymous": (f"Anonymous — the customer has not identified themselves. {ASK_TO_LOG_IN}"),
}
_CLAIMS = {
    "onboarding_form": "Claimed via onboarding form",
    "set_user": "Claimed by the website (setUser)",
}


def banner(
    identity_state: str,
    identity_source: str,
    trust_path: str | None = None,
    trusted_until: int | None = None,
) -> str:
    """The identity state and source in words, with what the agent should do about it."""
    kind = badge_kind(identity_state, identity_source)
    text = _BANNERS.get(kind)
    if text is not None:
        until = f" until {stamp(trusted_until)}" if trusted_until is not None else ""
        text = text.replace("{until}", until)
    if text is None:
        claim = _CLAIMS.get(identity_source, f"Claimed via {identity_source}")
        text = f"{claim} — not verified. {ASK_TO_LOG_IN}"
    if kind == "trusted" and trust_path == "after_routing":
        text += " They logged in after the chat was routed: earlier messages are not verified."
    return text


_SENT_WHILE = {
    "trusted": "sent while logged in",
    "expired": "sent while logged in, before trust ended",
    "cleared": "sent while logged in, before they logged out",
}


def last_message_words(trusted: bool | None, status: str, kind: str) -> str:
    """What the trusted mark on the last customer message says (the glyph goes before it).

    `kind` is `badge_kind`: the customer now, which may differ from when they wrote.
    """
    if trusted is None:
        return "No customer message yet."
    if not trusted:
        if kind == "trusted":
            return "Last customer message not verified: sent before they logged in."
        return "Last customer message not verified."
    text = f"Last customer message verified: {_SENT_WHILE.get(kind, 'sent while logged in')}."
    if status == "CLOSED":
        text += " Closed: trusted marks are gray."
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
