"""JWKS documents: parsed from a file or fetched from a URL, and remote keysets kept fresh.

A JWKS file's keys are registered one row each; a JWKS URL is one row naming the keyset,
whose members are fetched with httpx (bounded size, no redirects, timeout), cached in
memory and re-fetched when stale or when a token names a kid the keyset does not have.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt

from core.identity.jws import VerifyingKey
from core.identity.material import ASYMMETRIC_ALGS, KeyringError, check_kid, check_public_key
from core.store.keys import key_apps

if TYPE_CHECKING:  # httpx imports rich when it is installed; core must not (loaded lazily)
    import httpx

MAX_JWKS_BYTES = 1 << 20
JWKS_TIMEOUT_S = 5.0
#: An unknown kid refreshes a JWKS-URL keyset at most this often.
JWKS_REFRESH_INTERVAL_MS = 60_000
#: A fetched JWKS-URL keyset is re-fetched (rate limit permitting) once it is this old.
JWKS_MAX_AGE_MS = 600_000
#: JWK members that carry private or symmetric key material: refused, never stored.
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True, slots=True)
class JwkEntry:
    """One public key of a JWKS document."""

    kid: str
    alg: str
    jwk_json: str  # canonical JSON of the public JWK
    public_key: Any


def parse_jwks(
    document: bytes | str | dict[str, Any],
    *,
    allowed: tuple[str, ...] = ASYMMETRIC_ALGS,
    strict: bool = True,
) -> list[JwkEntry]:
    """The usable public keys of a JWKS document.

    With `strict`, a key that cannot be used is an error (a file the user hands us);
    otherwise it is skipped (a remote keyset may carry keys for other consumers).
    """
    if isinstance(document, bytes | str):
        if len(document) > MAX_JWKS_BYTES:
            raise KeyringError(f"JWKS document larger than {MAX_JWKS_BYTES} bytes")
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            raise KeyringError("JWKS: not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyringError('JWKS: expected a JSON object {"keys": [...]}')
    entries: list[JwkEntry] = []
    seen: set[str] = set()
    for index, jwk_data in enumerate(document["keys"]):
        try:
            entry = _parse_jwk(jwk_data, allowed)
        except KeyringError as exc:
            if strict:
                raise KeyringError(f"JWKS key #{index}: {exc}") from None
            continue
        if entry.kid in seen:
            if strict:
                raise KeyringError(f"JWKS: kid {entry.kid!r} appears twice")
            continue
        seen.add(entry.kid)
        entries.append(entry)
    return entries


def _parse_jwk(jwk_data: object, allowed: tuple[str, ...]) -> JwkEntry:
    if not isinstance(jwk_data, dict):
        raise KeyringError("not a JSON object")
    if _PRIVATE_JWK_MEMBERS & jwk_data.keys():
        raise KeyringError("contains private or symmetric key material; publish public keys only")
    kid = check_kid(jwk_data.get("kid"))
    if jwk_data.get("use", "sig") != "sig":
        raise KeyringError(f"kid {kid!r}: use is not 'sig'")
    alg = jwk_data.get("alg")
    if alg is not None and alg not in allowed:
        raise KeyringError(f"kid {kid!r}: alg {str(alg)[:20]!r} is not one of {', '.join(allowed)}")
    try:
        parsed = jwt.PyJWK(jwk_data)  # type: ignore[arg-type]
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise KeyringError(f"kid {kid!r}: not a usable RSA or EC P-256 public key") from None
    alg = parsed.algorithm_name
    if alg not in allowed:
        raise KeyringError(f"kid {kid!r}: alg {alg} is not one of {', '.join(allowed)}")
    public_key = parsed.key
    if hasattr(public_key, "private_bytes"):
        raise KeyringError(f"kid {kid!r}: is a private key")
    check_public_key(public_key, alg)
    canonical = {k: v for k, v in jwk_data.items() if isinstance(k, str)}
    return JwkEntry(
        kid, alg, json.dumps(canonical, sort_keys=True, separators=(",", ":")), public_key
    )


def check_jwks_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise KeyringError(f"JWKS URL {url[:80]!r}: expected an http:// or https:// URL")
    return url


def fetch_jwks(client: httpx.Client, url: str) -> bytes:
    """GET a JWKS document (bounded size, no redirects, timeout)."""
    import httpx

    try:
        with client.stream("GET", url, timeout=JWKS_TIMEOUT_S, follow_redirects=False) as response:
            if response.status_code != 200:
                raise KeyringError(f"JWKS URL {url[:80]}: HTTP {response.status_code}")
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise KeyringError(f"JWKS URL {url[:80]}: larger than {MAX_JWKS_BYTES} bytes")
            return body
    except httpx.HTTPError as exc:
        raise KeyringError(f"JWKS URL {url[:80]}: fetch failed ({type(exc).__name__})") from None


class RemoteKeyset:
    """A JWKS-URL keyset: members fetched with httpx and cached in memory."""

    def __init__(self, row: Any) -> None:
        self.label: str = row["kid"]
        self.url: str = row["jwks_url"]
        self.allowed = tuple(a for a in row["alg"].split(",") if a in ASYMMETRIC_ALGS)
        self.status: str = row["status"]
        self.issuer: str | None = row["issuer"]
        self.audience: str | None = row["audience"]
        self.apps = key_apps(row["apps"])
        self.members: dict[str, VerifyingKey] = {}
        self.fetched_at: int | None = None  # ms; None: only the snapshot taken when added
        self.last_attempt: int | None = None
        if row["public_material"]:
            with contextlib.suppress(KeyringError):
                self._set_members(
                    parse_jwks(row["public_material"], allowed=self.allowed, strict=False)
                )

    def _set_members(self, entries: list[Any]) -> None:
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
        return self.last_attempt is None or now - self.last_attempt >= JWKS_REFRESH_INTERVAL_MS

    def stale(self, now: int) -> bool:
        return self.fetched_at is None or now - self.fetched_at >= JWKS_MAX_AGE_MS

    def refresh(self, client: httpx.Client, now: int) -> None:
        """Fetch the keyset (callers check `due` first). A failed fetch keeps the old members."""
        self.last_attempt = now
        try:
            entries = parse_jwks(fetch_jwks(client, self.url), allowed=self.allowed, strict=False)
        except KeyringError:
            return
        self._set_members(entries)
        self.fetched_at = now
