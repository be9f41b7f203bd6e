"""Email and phone validation and normalization (email-validator, phonenumbers)."""

from __future__ import annotations

import re

import email_validator
import phonenumbers

from core.errors import DeskError

MAX_NAME_LENGTH = 200


class InvalidContact(DeskError):
    code = "bad_identity"


#: Characters no name, email or phone may hold: C0 and C1 controls (and DEL), lone surrogates
#: (not Unicode text) and the bidi controls that make text display out of order.
_HOSTILE_CHARS = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
#: The same, for the other names and ids a desk keeps (apps, agents, inboxes).
HOSTILE_CHARS = _HOSTILE_CHARS


def first_refused(pattern: re.Pattern[str], value: str) -> str | None:
    """`character N is U+XXXX, <what it is>` for the first character of `value` that
    `pattern` refuses (controls, lone surrogates, bidi controls), or None. Never echoes it."""
    bad = pattern.search(value)
    if bad is None:
        return None
    code = ord(bad.group())
    if 0xD800 <= code <= 0xDFFF:
        what = "a lone surrogate, not valid Unicode"
    elif code <= 0x9F:
        what = "a control character"
    else:
        what = "a bidi control character"
    return f"character {bad.start() + 1} is U+{code:04X}, {what}"


def _refuse_hostile(field: str, value: str) -> None:
    """InvalidContact naming `field` and the first control, bidi or surrogate character."""
    refused = first_refused(_HOSTILE_CHARS, value)
    if refused is not None:
        raise InvalidContact(f"{field}: {refused}; remove it")


def normalize_email(value: object) -> str:
    """A validated, lower-cased email address, or InvalidContact."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidContact("email: expected a non-empty string like julie@example.com")
    if len(value) > 320:
        raise InvalidContact("email: longer than 320 characters")
    _refuse_hostile("email", value)
    try:
        info = email_validator.validate_email(
            value.strip(), check_deliverability=False, allow_smtputf8=True
        )
    except email_validator.EmailNotValidError as exc:
        raise InvalidContact(f"email {value!r} is not valid: {exc}") from None
    return info.normalized.lower()


def normalize_phone(value: object, *, strict: bool = True) -> str:
    """A validated phone number in E.164 (`+14155550123`), or InvalidContact.

    Only numbers already written in international form (leading `+`) are accepted: a desk
    serving several countries cannot guess a region. Extensions are refused, not dropped:
    `+14155550123 ext. 9` is not the person at `+14155550123`. `strict` requires a number
    in an allocated range; `strict=False` accepts any number of a possible length, for
    claims a site signed (the site is the authority, and range metadata lags).
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidContact("phone: expected a non-empty string like +14155550123")
    text = value.strip()
    _refuse_hostile("phone", text)
    if len(text) > 32 or not text.startswith("+"):
        raise InvalidContact(f"phone {value!r} is not in international E.164 form (+14155550123)")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidContact(f"phone {value!r} is not valid: {exc}") from None
    if number.extension is not None:
        raise InvalidContact(
            f"phone {value!r} has an extension; give the number alone, like +14155550123"
        )
    if strict and not phonenumbers.is_valid_number(number):
        raise InvalidContact(f"phone {value!r} is not a valid number")
    if not strict and not phonenumbers.is_possible_number(number):
        raise InvalidContact(f"phone {value!r} is not a possible number (check its length)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_name(value: object, *, required: bool = True) -> str | None:
    """A display name: trimmed, at most MAX_NAME_LENGTH characters."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidContact("name: required")
        return None
    if not isinstance(value, str):
        raise InvalidContact("name: expected a string")
    _refuse_hostile("name", value)
    name = " ".join(value.split())
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidContact(f"name: longer than {MAX_NAME_LENGTH} characters")
    return name


def first_name(name: str | None) -> str:
    return name.split()[0] if name and name.split() else ""
