"""What a token must claim, and what a verified one proves (docs/tokens.md).

`TokenRejected` carries a stable code from `REJECTION_CODES`; `VerifiedIdentity` is what a
token that passes proves. The claim checks run in a fixed order (times, issuer, audience,
identity, jti) so a token breaking several rules is always rejected with the same code.
Normalized contacts are cached: the same customer presents the same claims again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from core.contacts import InvalidContact, normalize_email, normalize_name, normalize_phone
from core.errors import DeskError

REJECTION_CODES = (
    "malformed",
    "too_large",
    "alg_not_allowed",
    "unknown_kid",
    "key_retired",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "issued_in_future",
    "lifetime_too_long",
    "missing_claim",
    "bad_issuer",
    "bad_audience",
    "bad_identity",
    "replayed",
)
MAX_JTI_LENGTH = 256
#: NumericDate bounds (seconds): anything outside is not a time a token can carry.
_MAX_NUMERIC_DATE = 1 << 41


class TokenRejected(DeskError):
    """A token that does not prove an identity. `code` is one of REJECTION_CODES."""

    def __init__(self, code: str, detail: str, *, kid: str | None = None) -> None:
        assert code in REJECTION_CODES, code
        super().__init__(f"token rejected ({code}): {detail}")
        self.code = code
        self.detail = detail
        self.kid = kid


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """Who a verified token proves: exactly one of email / phone, normalized."""

    email: str | None
    phone: str | None
    name: str | None
    kid: str
    source: str  # "desk" or "site"
    expires_at: int  # ms
    issued_at: int  # ms
    jti: str | None
    #: The namespace of `jti`: the key, or the JWKS-URL keyset (replay is checked per scope).
    scope: str = ""


def reject(code: str, detail: str, kid: str | None = None) -> TokenRejected:
    return TokenRejected(code, detail, kid=kid)


@lru_cache(maxsize=65536)
def normalized_email(value: str) -> str:
    return normalize_email(value)


@lru_cache(maxsize=65536)
def normalized_phone(value: str) -> str:
    """Signed phone claims: any possible E.164 number (the signing site is the authority;
    validity metadata lags new number ranges). Extensions are still refused."""
    return normalize_phone(value, strict=False)


@lru_cache(maxsize=65536)
def _normalized_name(value: str) -> str | None:
    return normalize_name(value, required=False)


def _numeric_ms(payload: dict[str, Any], claim: str, kid: str) -> int:
    value = payload[claim]
    if (type(value) is int or (type(value) is float and math.isfinite(value))) and (
        0 <= value < _MAX_NUMERIC_DATE
    ):
        return int(value * 1000)
    raise reject("malformed", f"claim {claim} must be a NumericDate (seconds since epoch)", kid)


def check_times(
    payload: dict[str, Any], kid: str, now: int, leeway: int, max_lifetime_s: int
) -> tuple[int, int]:
    """(exp, iat) in ms, once exp, iat and nbf allow the token at `now` (ms, with leeway)."""
    for claim in ("exp", "iat"):
        if payload.get(claim) is None:
            raise reject("missing_claim", f"claim {claim} is required", kid)
    exp = _numeric_ms(payload, "exp", kid)
    iat = _numeric_ms(payload, "iat", kid)
    if iat > now + leeway:
        raise reject("issued_in_future", "iat is in the future beyond the leeway", kid)
    if exp < iat:
        raise reject("malformed", "exp is before iat", kid)
    if exp - iat > max_lifetime_s * 1000:
        raise reject("lifetime_too_long", f"exp - iat exceeds {max_lifetime_s} s", kid)
    if now >= exp + leeway:
        raise reject("expired", "exp has passed", kid)
    if payload.get("nbf") is not None and _numeric_ms(payload, "nbf", kid) > now + leeway:
        raise reject("not_yet_valid", "nbf is in the future", kid)
    return exp, iat


def check_issuer(iss: object, issuer: str, kid: str) -> None:
    """A key with an issuer accepts only tokens whose `iss` is that issuer."""
    if iss is None:
        raise reject("missing_claim", "claim iss is required by this key", kid)
    if iss != issuer:
        raise reject("bad_issuer", "iss does not match the key's issuer", kid)


def check_audience(
    aud: object, *, site: bool, audience: str | None, app_id: str | None, kid: str
) -> None:
    """Desk-minted tokens name their app in `aud`; a site key with an audience requires it,
    and one without refuses any `aud`."""
    if not site:
        # Desk-minted tokens name the app they are for.
        if aud is None:
            raise reject("missing_claim", "claim aud (the app) is required", kid)
        if type(aud) is not str:
            raise reject("bad_audience", "aud must be one app id", kid)
        if app_id is not None and aud != app_id:
            raise reject("bad_audience", "token was minted for another app", kid)
    elif audience is not None:
        if aud is None:
            raise reject("missing_claim", "claim aud is required by this key", kid)
        if not (
            aud == audience
            or (type(aud) is list and audience in aud and all(type(a) is str for a in aud))
        ):
            raise reject("bad_audience", "aud does not include the key's audience", kid)
    elif aud is not None:
        raise reject("bad_audience", "token has aud but the key has no audience", kid)


def identity_claims(payload: dict[str, Any], kid: str) -> tuple[str | None, str | None, str | None]:
    """(email, phone, name), normalized: exactly one of email or phone, and a valid name."""
    email, phone = payload.get("email"), payload.get("phone")
    if (email is None) == (phone is None):
        raise reject("bad_identity", "exactly one of email or phone is required", kid)
    which = "email" if email is not None else "phone"
    try:
        if email is not None:
            if type(email) is not str:
                raise InvalidContact("email must be a string")
            email = normalized_email(email)
        else:
            if type(phone) is not str:
                raise InvalidContact("phone must be a string")
            phone = normalized_phone(phone)
        which = "name"
        name = payload.get("name")
        if name is not None:
            if type(name) is not str:
                raise InvalidContact("name must be a string")
            name = _normalized_name(name)
    except InvalidContact:
        raise reject("bad_identity", f"claim {which} is not valid", kid) from None
    return email, phone, name


def check_jti(payload: dict[str, Any], kid: str) -> str | None:
    jti = payload.get("jti")
    if jti is not None and (type(jti) is not str or not 0 < len(jti) <= MAX_JTI_LENGTH):
        raise reject(
            "malformed", f"claim jti must be a string of 1-{MAX_JTI_LENGTH} characters", kid
        )
    return jti
