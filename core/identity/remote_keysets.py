"""JWKS-URL keysets as a verifier holds them: the last good keys, refreshed in the background.

A JWKS-URL key is one row naming a keyset; its members are the keys last fetched from its URL
(at first, the snapshot taken when it was added). A keyset is fetched on a thread of its own,
never on the caller's and never under the verifier's lock:

- when one of its keys is used and it is older than `JWKS_MAX_AGE_MS` (the key serves
  meanwhile);
- when a token names a kid that no keyset holds, at most once per `JWKS_REFRESH_INTERVAL_MS`
  per keyset, so a flood of invented kids cannot make the desk hammer the JWKS host.

One fetch per keyset at a time: callers arriving while it runs share it (a `Future`). A failed
fetch keeps the last good keys.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from core.identity.jwks import JwkEntry, parse_jwks
from core.identity.jws import VerifyingKey
from core.identity.material import ASYMMETRIC_ALGS, KeyringError
from core.store.keys import key_apps

#: An unknown kid refreshes a JWKS-URL keyset at most this often.
JWKS_REFRESH_INTERVAL_MS = 60_000
#: A fetched JWKS-URL keyset is re-fetched (rate limit permitting) once it is this old.
JWKS_MAX_AGE_MS = 600_000

#: Fetches a JWKS URL's document (bytes) or raises KeyringError.
Fetch = Callable[[str], bytes]


class RemoteKeyset:
    """One JWKS-URL keyset: its members, and the one fetch that may be under way."""

    def __init__(self, row: Any, fetch: Fetch) -> None:
        self.label: str = row["kid"]
        self.url: str = row["jwks_url"]
        self.allowed = tuple(a for a in row["alg"].split(",") if a in ASYMMETRIC_ALGS)
        self.status: str = row["status"]
        self.issuer: str | None = row["issuer"]
        self.audience: str | None = row["audience"]
        self.apps = key_apps(row["apps"])
        #: Replaced whole by a fetch, so readers need no lock.
        self.members: dict[str, VerifyingKey] = {}
        self.fetched_at: int | None = None  # ms; None: only the snapshot taken when added
        self.last_attempt: int | None = None
        self.last_error: str | None = None
        self._fetch = fetch
        self._lock = threading.Lock()
        self._pending: Future[bool] | None = None
        if row["public_material"]:
            with contextlib.suppress(KeyringError):
                self._set_members(
                    parse_jwks(row["public_material"], allowed=self.allowed, strict=False)
                )

    def _set_members(self, entries: list[JwkEntry]) -> None:
        members = {}
        for entry in entries:
            key = VerifyingKey(
                entry.kid,
                entry.alg,
                entry.jwk_json,
                site=True,
                status=self.status,
                issuer=self.issuer,
                audience=self.audience,
                apps=self.apps,
                scope=self.label,
            )
            key.prepared = entry.public_key
            members[entry.kid] = key
        self.members = members

    def due(self, now: int) -> bool:
        """Whether the rate limit allows a fetch now."""
        return self.last_attempt is None or now - self.last_attempt >= JWKS_REFRESH_INTERVAL_MS

    def stale(self, now: int) -> bool:
        return self.fetched_at is None or now - self.fetched_at >= JWKS_MAX_AGE_MS

    @property
    def pending(self) -> Future[bool] | None:
        """The fetch under way, if any."""
        return self._pending

    def refresh(self, now: int) -> Future[bool]:
        """Start a fetch on its own thread, or join the one under way (callers check `due`).
        The future's result says whether the members were replaced; it is never cancelled."""
        with self._lock:
            if self._pending is not None:
                return self._pending
            future: Future[bool] = Future()
            future.set_running_or_notify_cancel()
            self._pending = future
            self.last_attempt = now
        thread = threading.Thread(
            target=self._run, args=(now, future), name=f"jwks-{self.label[:40]}", daemon=True
        )
        thread.start()
        return future

    def _run(self, now: int, future: Future[bool]) -> None:
        replaced = False
        try:
            entries = parse_jwks(self._fetch(self.url), allowed=self.allowed, strict=False)
            self._set_members(entries)
            self.fetched_at, self.last_error, replaced = now, None, True
        except KeyringError as exc:
            self.last_error = getattr(exc, "reason", None) or str(exc)
        except Exception as exc:  # noqa: BLE001 - the future must always be resolved
            self.last_error = f"fetch failed ({type(exc).__name__})"
        finally:
            with self._lock:
                self._pending = None
            future.set_result(replaced)


class RemoteKeysets:
    """The desk's JWKS-URL keysets: the active ones, and the members of retired ones."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self.active: tuple[RemoteKeyset, ...] = ()
        self.retired: dict[str, VerifyingKey] = {}

    def load(self, rows: Iterable[Any]) -> None:
        """Take the keyset rows just read, keeping the keysets (and their members) whose URL
        did not change."""
        old = {keyset.label: keyset for keyset in self.active}
        active: list[RemoteKeyset] = []
        retired: dict[str, VerifyingKey] = {}
        for row in rows:
            keyset = old.get(row["kid"])
            if keyset is None or keyset.url != row["jwks_url"]:
                keyset = RemoteKeyset(row, self._fetch)
            keyset.status, keyset.apps = row["status"], key_apps(row["apps"])
            for member in keyset.members.values():
                member.apps = keyset.apps
            if row["status"] == "active":
                active.append(keyset)
            else:
                for member in keyset.members.values():
                    member.status = "retired"
                    retired.setdefault(member.kid, member)
        self.active, self.retired = tuple(active), retired

    def find(self, kid: str, now: int) -> VerifyingKey | None:
        """The key `kid` names among the keysets' current members, without waiting; using a
        stale keyset starts its refresh in the background."""
        for keyset in self.active:
            member = keyset.members.get(kid)
            if member is not None:
                if keyset.stale(now) and keyset.due(now):
                    keyset.refresh(now)
                return member
        return self.retired.get(kid)

    def refreshes_for_unknown_kid(self, now: int) -> list[Future[bool]]:
        """The fetches a kid no keyset holds waits for: those under way, and new ones for
        the keysets the rate limit allows."""
        futures = []
        for keyset in self.active:
            pending = keyset.pending
            if pending is not None:
                futures.append(pending)
            elif keyset.due(now):
                futures.append(keyset.refresh(now))
        return futures

    def why_unknown(self) -> str:
        """For the audit row of an unknown kid: keysets that could not be fetched."""
        notes = []
        for keyset in self.active:
            if keyset.pending is not None:
                notes.append(f"keyset {keyset.label!r}: fetch still under way")
            elif keyset.last_error is not None:
                notes.append(f"keyset {keyset.label!r}: {keyset.last_error}")
        return "; ".join(notes)
