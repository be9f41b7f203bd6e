"""Email and phone validation and normalization (email-validator, phonenumbers)."""

from __future__ import annotations

import email_validator
import phonenumbers

from core.errors import DeskError

MAX_NAME_LENGTH = 200


class InvalidContact(DeskError):
    code = "bad_identity"


def normalize_email(value: object) -> str:
    """A validated, lower-cased email address, or InvalidContact."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidContact("email: expected a non-empty string like julie@example.com")
    if len(value) > 320:
        raise InvalidContact("email: longer than 320 characters")
    try:
        info = email_validator.validate_email(
            value.strip(), check_deliverability=False, allow_smtputf8=True
        )
    except email_validator.EmailNotValidError as exc:
        raise InvalidContact(f"email {value!r} is not valid: {exc}") from None
    return info.normalized.lower()


def normalize_phone(value: object) -> str:
    """A validated phone number in E.164 (`+14155550123`), or InvalidContact.

    Only numbers already written in international form (leading `+`) are accepted: a desk
    serving several countries cannot guess a region.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidContact("phone: expected a non-empty string like +14155550123")
    text = value.strip()
    if len(text) > 32 or not text.startswith("+"):
        raise InvalidContact(f"phone {value!r} is not in international E.164 form (+14155550123)")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidContact(f"phone {value!r} is not valid: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidContact(f"phone {value!r} is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_name(value: object, *, required: bool = True) -> str | None:
    """A display name: trimmed, at most MAX_NAME_LENGTH characters."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidContact("name: required")
        return None
    if not isinstance(value, str):
        raise InvalidContact("name: expected a string")
    name = " ".join(value.split())
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidContact(f"name: longer than {MAX_NAME_LENGTH} characters")
    return name


def first_name(name: str | None) -> str:
    return name.split()[0] if name and name.split() else ""
