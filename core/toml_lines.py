"""Line numbers for errors in TOML files the desk reads (rules, desk configuration).

`tomllib` gives values without positions, so a value that parses but is wrong is found again
in the text: the Nth `[[table]]` header, then the key inside it. Good enough for the files
people write by hand; when a key cannot be found the table's line stands in.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from core.errors import FileLineError

_TOML_POSITION_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


def syntax_error(exc: tomllib.TOMLDecodeError) -> tuple[int | None, str]:
    """(line, reason) of a file `tomllib` could not parse."""
    message = str(exc)
    found = _TOML_POSITION_RE.search(message)
    if found is None:
        return None, f"not valid TOML: {message}"
    return (
        int(found.group(1)),
        f"not valid TOML: {message[: found.start()]} (column {found.group(2)})",
    )


def read_text(path: Path, *, max_bytes: int, error: type[FileLineError], what: str) -> str:
    """The UTF-8 text of a file the desk reads (`what`: "rules file"), or `error(path, line,
    reason)` for one missing, too large, unreadable or not UTF-8."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(path, None, f"{size} bytes is over the limit of {max_bytes}")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(path, None, f"no such {what}") from None
    except IsADirectoryError:
        raise error(path, None, f"is a directory, not a {what}") from None
    except OSError as exc:
        raise error(path, None, f"cannot read: {exc.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(path, raw[: exc.start].count(b"\n") + 1, "not UTF-8 text") from None


def _key_pattern(key: str) -> str:
    return rf"(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')"


class TableLocator:
    """Finds the line of the Nth `[[name]]` table (or of the `[name]` table) and of a key
    inside it."""

    def __init__(self, text: str, name: str) -> None:
        self.lines = text.splitlines()
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(name)}\s*\]\]?\s*(?:#.*)?$")
        self.headers = [i + 1 for i, line in enumerate(self.lines) if header.match(line)]

    def entry(self, index: int) -> int | None:
        return self.headers[index] if index < len(self.headers) else None

    def key(self, index: int, key: str, section: str | None = None) -> int | None:
        """The line of `key` inside table `index` (in its `section` sub-table when given);
        the table's own line when the key is not found."""
        start = self.entry(index)
        if start is None:
            return None
        end = self.headers[index + 1] - 1 if index + 1 < len(self.headers) else len(self.lines)
        name = _key_pattern(key)
        prefix = rf"(?:{section}\s*\.\s*)?" if section else ""
        pattern = re.compile(rf"^\s*{prefix}{name}\s*=")
        inline = re.compile(rf"[{{,]\s*{name}\s*=") if section else None
        for number in range(start, end + 1):
            line = self.lines[number - 1]
            if pattern.match(line) or (inline is not None and inline.search(line)):
                return number
        return start

    def top_level(self, key: str) -> int | None:
        """The first line that starts `key` as a top-level key or table."""
        pattern = re.compile(rf"^\s*\[*\s*{_key_pattern(key)}(?:\s*[=\].]|\s*$)")
        return next((n for n, line in enumerate(self.lines, 1) if pattern.match(line)), None)
