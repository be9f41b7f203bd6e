"""Checks and formatting the whole engine shares: message bodies, templates, bearer tokens."""

from __future__ import annotations

import hashlib
import re

from core.contacts import first_refused
from core.engine.hooks import MAX_MESSAGE_CHARS
from core.errors import DeskError

#: What a message body may not hold: C0 controls but tab, newline and carriage return, and
#: lone surrogates (not Unicode text). Bidi and other text is the customer's to write.
_MESSAGE_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


class InvalidInput(DeskError):
    code = "invalid"


def hash_token(token: str) -> str:
    """How bearer tokens (widget sessions, API users) are stored: 256-bit random strings, so
    a plain SHA-256 suffices. Lone surrogates from hostile input hash instead of raising."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_body(body: object) -> str:
    """A message body as stored: stripped, non-empty, within the limit, no control chars."""
    if not isinstance(body, str):
        raise InvalidInput("message: expected text")
    text = body.strip()
    if not text:
        raise InvalidInput("message: empty; type something first")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidInput(
            f"message: {len(text)} characters is over the limit of {MAX_MESSAGE_CHARS}"
        )
    if not text.isprintable():  # fast path: printable text has no controls or surrogates
        refused = first_refused(_MESSAGE_REFUSED, text)
        if refused is not None:
            raise InvalidInput(
                f"message: {refused}; remove it and send again (tab and newline are fine)"
            )
    return text


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def render(template: str, **values: str) -> str:
    """Fill `{placeholder}`s in one pass (a value holding `{store_name}` stays as written);
    unknown placeholders and stray braces are left as written."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), template)
