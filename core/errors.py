"""Errors a user can cause. Each carries a message naming the input and the fix."""

from __future__ import annotations


class DeskError(Exception):
    """A user-caused error: bad input, a missing thing, a refused action. Nothing changed."""

    #: Short stable code for HTTP/JSON callers.
    code = "invalid"


class NotFound(DeskError):
    code = "not_found"


class Conflict(DeskError):
    code = "conflict"


class StoreError(DeskError):
    """The database file cannot be opened as a desk."""

    code = "store"


class NoDesk(StoreError):
    """No desk there yet, and nothing else either: a missing desk file, or a PostgreSQL
    database without any table. A desk may be made there (`init`, a demo build)."""


class StoreUnavailable(StoreError):
    """The desk's database server cannot be reached now (PostgreSQL down or restarting):
    nothing was done; the same call may succeed in a moment."""

    code = "unavailable"


class FileLineError(DeskError):
    """A file that cannot be used: names the file, the line (when known) and the reason."""

    def __init__(self, path: object, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {reason}")


class RateLimited(DeskError):
    """Too many of something from one address or one app: try again in `retry_after_s`."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float, code: str | None = None) -> None:
        super().__init__(message)
        #: Whole seconds, at least 1 (what `Retry-After` says).
        self.retry_after_s = max(1, int(retry_after_s + 0.999))
        if code is not None:
            self.code = code
