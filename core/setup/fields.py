"""Checks of every value an admin command or config file sets: ids, handles, names, texts,
URLs, origins and numbers. Each returns the value as it is stored or raises `SettingError`
naming the setting; nothing here touches the desk.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from core.contacts import HOSTILE_CHARS, first_refused
from core.errors import DeskError

MAX_URL_CHARS = 2000
MAX_TEXT_CHARS = 1000
MAX_STORE_NAME_CHARS = 100
MAX_AGENT_NAME_CHARS = 100
MAX_INBOX_NAME_CHARS = 40
MAX_ORIGINS = 50
MIN_CAPACITY, MAX_CAPACITY = 1, 1000
MIN_TRUST_WINDOW_S, MAX_TRUST_WINDOW_S = 60, 86_400
ONBOARDING = ("email", "phone", "off")
ROLES = ("agent", "admin")

_APP_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HANDLE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
#: Never in a name, id or URL: C0 and C1 controls, lone surrogates, bidi controls.
_NAME_REFUSED = HOSTILE_CHARS
#: Never in a message text: the same but tab and newline.
_TEXT_REFUSED = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_]+)\}")


class SettingError(DeskError):
    """A value a setting cannot take; `key` is the setting (as config files spell it)."""

    code = "bad_setting"

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


def _shown(value: object) -> str:
    """A value for an error message: short, and never raw control characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise SettingError(key, f"expected text, got {_shown(value)}")
    return value


def _refuse(pattern: re.Pattern[str], value: str, key: str) -> None:
    refused = first_refused(pattern, value)
    if refused is not None:
        raise SettingError(key, f"{refused}; remove it")


def app_id(value: object, key: str = "app_id") -> str:
    text = _text(value, key)
    if not _APP_ID_RE.fullmatch(text):
        raise SettingError(
            key,
            f"{_shown(text)} is not an app id: 1 to 64 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit",
        )
    return text


def handle(value: object, key: str = "handle") -> str:
    text = _text(value, key)
    if _HANDLE_RE.fullmatch(text):
        return text
    if _HANDLE_RE.fullmatch(text.lower()):
        raise SettingError(key, f"{_shown(text)}: use lower case ({text.lower()!r})")
    raise SettingError(
        key,
        f"{_shown(text)} is not a handle: 1 to 32 lower-case letters, digits, '.', '_' or '-',"
        " starting with a letter or digit",
    )


def name(value: object, key: str, max_chars: int) -> str:
    """A display name: inner spaces collapsed, trimmed, non-empty, printable."""
    text = _text(value, key)
    _refuse(_NAME_REFUSED, text, key)
    clean = " ".join(text.split())
    if not clean:
        raise SettingError(key, "empty; give a name")
    if len(clean) > max_chars:
        raise SettingError(key, f"{len(clean)} characters is over the limit of {max_chars}")
    return clean


def inbox_name(value: object, key: str = "name") -> str:
    return name(value, key, MAX_INBOX_NAME_CHARS)


def template(value: object, key: str, placeholders: tuple[str, ...]) -> str:
    """A message text the widget shows: trimmed, non-empty, tab and newline allowed, and only
    the given `{placeholders}`."""
    text = _text(value, key).strip()
    if not text:
        raise SettingError(key, "empty; give the text")
    if len(text) > MAX_TEXT_CHARS:
        raise SettingError(key, f"{len(text)} characters is over the limit of {MAX_TEXT_CHARS}")
    _refuse(_TEXT_REFUSED, text, key)
    for found in _PLACEHOLDER_RE.finditer(text):
        if found.group(1) not in placeholders:
            allowed = ", ".join("{" + p + "}" for p in placeholders)
            raise SettingError(
                key, f"unknown placeholder {found.group()} (this text may use {allowed})"
            )
    return text


def url(value: object, key: str) -> str:
    """A page of the site: an absolute http:// or https:// URL with a host, as given."""
    text = _text(value, key)
    if len(text) > MAX_URL_CHARS:
        raise SettingError(key, f"longer than {MAX_URL_CHARS} characters")
    _refuse(_NAME_REFUSED, text, key)
    if any(c.isspace() for c in text):
        raise SettingError(key, f"{_shown(text)} contains spaces; encode them as %20")
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise SettingError(key, f"{_shown(text)} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise SettingError(
            key,
            f"{_shown(text)} is not an http:// or https:// URL, like https://shop.example/login",
        )
    if not host:
        raise SettingError(key, f"{_shown(text)} has no host, like https://shop.example/login")
    if parts.username is not None or parts.password is not None:
        raise SettingError(key, f"{_shown(text)} holds a user name or password; remove it")
    return text


def origin(value: object, key: str = "allowed_origins") -> str:
    """A site the widget may run on, as browsers send it in `Origin`: scheme://host[:port],
    lower-cased, without the default port; or `*` for any site."""
    text = _text(value, key).strip()
    if text == "*":
        return text
    checked = url(text, key)
    parts = urlsplit(checked)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingError(
            key,
            f"{_shown(text)} is not an origin: give scheme://host[:port] only,"
            " like https://shop.example (no path)",
        )
    scheme = parts.scheme.lower()
    port = parts.port
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def origins(value: object, key: str = "allowed_origins") -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise SettingError(key, f"expected a list of origins, got {_shown(value)}")
    if len(value) > MAX_ORIGINS:
        raise SettingError(key, f"{len(value)} origins is over the limit of {MAX_ORIGINS}")
    checked: list[str] = []
    for item in value:
        clean = origin(item, key)
        if clean not in checked:
            checked.append(clean)
    return tuple(checked)


def whole(value: object, key: str, low: int, high: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingError(
            key, f"expected a whole number from {low} to {high}{unit}, got {_shown(value)}"
        )
    if not low <= value <= high:
        raise SettingError(key, f"{value} is out of range: {low} to {high}{unit}")
    return value


def capacity(value: object, key: str = "capacity") -> int:
    return whole(value, key, MIN_CAPACITY, MAX_CAPACITY)


def trust_window(value: object, key: str = "trust_window_s") -> int:
    return whole(value, key, MIN_TRUST_WINDOW_S, MAX_TRUST_WINDOW_S, " seconds")


def onboarding(value: object, key: str = "onboarding") -> str:
    text = _text(value, key)
    if text not in ONBOARDING:
        raise SettingError(key, f"{_shown(text)} is not one of: {', '.join(ONBOARDING)}")
    return text


def role(value: object, key: str = "role") -> str:
    """An agent's role: `agent` or `admin` (docs/agent-api.md#permissions)."""
    text = _text(value, key)
    if text not in ROLES:
        raise SettingError(key, f"{_shown(text)} is not one of: {', '.join(ROLES)}")
    return text


def flag(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise SettingError(key, f"expected true or false, got {_shown(value)}")
    return value
