"""JWKS documents: the usable public keys of a JWKS, from a file or fetched from a URL.

A JWKS file's keys are registered one row each; a JWKS URL is one row naming the keyset,
fetched by `core.identity.jwks_fetch` and kept fresh by `core.identity.remote_keysets`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jwt

from core.identity.material import ASYMMETRIC_ALGS, KeyringError, check_kid, check_public_key

MAX_JWKS_BYTES = 1 << 20
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
