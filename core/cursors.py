"""Opaque queue cursors: where a page of a queue continues, as the agent API's `next` and the
console's pages and page directory (`core.console.data`) hand them out.

A cursor is the URL-safe base64 of `queue_key.id` (no padding): the rows after that key.
Callers say what a refused cursor means to theirs (a 400, an `InvalidQuery`).
"""

from __future__ import annotations

import base64
import binascii
import re

#: The key of one queue row: its position in queue order (`core.store.queue.QueueKey`).
QueueKey = tuple[int, int]

_CURSOR_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_KEY_RE = re.compile(r"(\d{1,19})\.(\d{1,19})")


def encode_cursor(key: QueueKey) -> str:
    """The cursor of the rows after a queue key."""
    return base64.urlsafe_b64encode(f"{key[0]}.{key[1]}".encode()).decode().rstrip("=")


def parse_cursor(cursor: object, *, largest: int) -> QueueKey | None:
    """The queue key a cursor stands for, or None when it is not one (or either of its
    numbers is over `largest`)."""
    if not isinstance(cursor, str) or not _CURSOR_RE.fullmatch(cursor):
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    match = _KEY_RE.fullmatch(text)
    if match is None or max(int(match[1]), int(match[2])) > largest:
        return None
    return int(match[1]), int(match[2])


def start_cursor(anchor: QueueKey) -> str:
    """The cursor of the rows from `anchor` on (a page directory's start): after the key
    just before it (ids are whole numbers: nothing lies between `id - 1` and `id`)."""
    return encode_cursor((anchor[0], anchor[1] - 1))
