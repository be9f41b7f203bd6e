"""Keeping credentials in URLs out of the access log.

A widget's event stream carries its session token in the query (`?token=`), since browsers'
EventSource cannot send headers. The access log records each request's path and query as
sent, so a spelling the server would not even read (`?%74oken=`, `?TOKEN=`, `?to%6Ben=`)
still carries a secret. The query is therefore parsed, not matched: every parameter whose
name, percent-decoded and lower-cased (decoded again while that changes it, separators `-`
`_` `.` and spaces ignored), names a credential has its value replaced by `[redacted]`.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

REDACTED = "[redacted]"
#: Names (as normalized by `_normalized`) whose values are credentials.
SECRET_NAMES = frozenset(
    {"token", "jwt", "apitoken", "accesstoken", "idtoken", "refreshtoken", "sessiontoken"}
)
#: Any name containing one of these is a credential too.
SECRET_PARTS = ("token", "jwt", "secret", "password", "passwd", "apikey")
_MAX_DECODES = 4
_IGNORED_IN_NAMES = re.compile(r"[\s_.\-]+")


def _normalized(raw_name: str) -> str:
    """A parameter name percent-decoded until it stops changing, lower-cased, separators
    dropped: `%2574oken`, `TOKEN`, `api_token` and `Api-Token` come out as plain words."""
    name = raw_name
    for _ in range(_MAX_DECODES):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return _IGNORED_IN_NAMES.sub("", name.casefold())


def is_secret_name(raw_name: str) -> bool:
    name = _normalized(raw_name)
    return name in SECRET_NAMES or any(part in name for part in SECRET_PARTS)


def redact_query(query: str) -> str:
    """`query` (without its `?`) with the values of credential parameters redacted; the
    other parameters are kept exactly as written.

    Parameters are split on `&` as the server splits them; a parameter holding a `;` is also
    read as `;`-separated (as some servers do), and redacted from its first credential on.
    """
    parts = query.split("&")
    for index, part in enumerate(parts):
        segments = part.split(";")
        for position, segment in enumerate(segments):
            name, equals, _ = segment.partition("=")
            if is_secret_name(name):
                kept = segments[:position] + [f"{name}={REDACTED}" if equals else REDACTED]
                parts[index] = ";".join(kept)
                break
    return "&".join(parts)


def redact_url(target: str) -> str:
    """A request target (`/path?query`) with credential parameters redacted. A path holding
    an encoded `?` (`%3F`, logged as sent) followed by a credential is cut there too."""
    path, mark, query = target.partition("?")
    cut = path.lower().find("%3f")
    if cut >= 0:
        rest = unquote_plus(path[cut + 3 :])
        if redact_query(rest) != rest:
            path = path[: cut + 3] + REDACTED
    if not mark:
        return path
    return f"{path}?{redact_query(query)}"


class RedactTokens(logging.Filter):
    """A logging filter for `uvicorn.access`: every request target in a record's arguments
    (or, without arguments, its message) has its credential parameters redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_url(arg) if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        elif isinstance(record.msg, str) and "?" in record.msg:
            record.msg = " ".join(redact_url(word) for word in record.msg.split(" "))
        return True
