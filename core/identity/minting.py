"""Desk-minted tokens: the desk's own signing key and the User Identity JWTs it signs.

The desk signs with one active key of its own (ES256, created on first use): its private key
lives in the keystore, its row holds the public key and fingerprint. `install_desk_key` puts
a given key in place instead (the demo builder's fixture key, marked demo only).
"""

from __future__ import annotations

import secrets
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.contacts import InvalidContact, normalize_email, normalize_name, normalize_phone
from core.errors import Conflict, DeskError
from core.identity.claims import MAX_JTI_LENGTH, normalized_email, normalized_phone
from core.identity.keystore import read_keystore, write_keystore
from core.identity.material import (
    DESK_ISSUER,
    KeyringError,
    check_kid,
    desk_key_from_private,
    private_pem_bytes,
    public_fingerprint,
    public_pem,
)
from core.identity.verifier import Verifier
from core.store import Desk
from core.store.keys import (
    active_desk_kids,
    desk_key_demo_only,
    desk_key_row,
    insert_key,
    mark_changed,
    mark_retired,
    newest_desk_key,
)

__all__ = ["DEFAULT_TTL_S", "DeskMinting", "desk_key_demo_only", "install_desk_key"]

DEFAULT_TTL_S = 600


class DeskMinting:
    """Mints desk-signed tokens (a part of `Keyring`); keeps the signing key loaded until
    `verifier` re-reads the keys."""

    def __init__(self, desk: Desk, verifier: Verifier) -> None:
        self.desk = desk
        self.verifier = verifier
        self._signer: tuple[str, str, Any] | None = None
        verifier.on_reload(self._forget_signer)

    def _forget_signer(self) -> None:
        self._signer = None

    def mint(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        name: str | None = None,
        ttl_s: int = DEFAULT_TTL_S,
        jti: str | None = None,
        app_id: str | None = None,
    ) -> str:
        """A desk-signed User Identity JWT for exactly one of email / phone.

        It names its app in `aud` (`app_id`; implied when the desk has one app) and carries a
        fresh `jti` unless one is given, so it trusts one widget session of one app.
        """
        if (email is None) == (phone is None):
            raise InvalidContact("give exactly one of email or phone")
        claims: dict[str, Any] = {}
        # The same caches as verify: the desk that mints a token usually verifies it next.
        if email is not None:
            claims["email"] = (
                normalized_email(email) if isinstance(email, str) else normalize_email(email)
            )
        else:
            claims["phone"] = (
                normalized_phone(phone) if isinstance(phone, str) else normalize_phone(phone)
            )
        display_name = normalize_name(name, required=False)
        if display_name is not None:
            claims["name"] = display_name
        max_lifetime_s = self.verifier.max_lifetime_s
        if type(ttl_s) is not int or not 0 < ttl_s <= max_lifetime_s:
            raise DeskError(f"ttl: expected 1 to {max_lifetime_s} seconds, got {ttl_s!r}")
        if jti is not None and (not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH):
            raise DeskError(f"jti: expected 1 to {MAX_JTI_LENGTH} characters")
        claims["jti"] = jti if jti is not None else secrets.token_urlsafe(16)
        audience = self.verifier.resolve_app(app_id)
        kid, alg, private_key = self._desk_signer()
        issued = self.desk.clock.now_ms() // 1000
        payload = {
            "iss": DESK_ISSUER,
            "aud": audience,
            "iat": issued,
            "exp": issued + ttl_s,
            **claims,
        }
        return jwt.encode(payload, private_key, algorithm=alg, headers={"kid": kid})

    def signing_kid(self) -> str:
        """The kid of the desk's signing key; made now (ES256) when the desk has none."""
        return self._desk_signer()[0]

    def _desk_signer(self) -> tuple[str, str, Any]:
        """The desk's current signing key; created (ES256) when the desk has none."""
        self.verifier.sync()
        signer = self._signer
        if signer is not None:
            return signer
        with self.verifier.writing_keys(), self.desk.transaction() as conn:
            newest = newest_desk_key(conn)
            if newest is None:
                private = ec.generate_private_key(ec.SECP256R1())
                kid = store_desk_key(
                    self.desk,
                    private_pem_bytes(private),
                    kid=None,
                    demo_only=False,
                    at_ms=self.desk.clock.now_ms(),
                )
                alg = "ES256"
            else:
                kid, alg = newest
        pem = read_keystore(self.desk.keystore_path).private_keys.get(kid)
        if pem is None:
            raise KeyringError(
                f"the desk signing key {kid!r} has no private key in {self.desk.keystore_path}"
                f" (keystore lost or not copied); retire it (gladdesk keys retire {kid})"
                " and a new one is created"
            )
        private_key = serialization.load_pem_private_key(pem, password=None)
        self.verifier.reload()
        self._signer = (kid, alg, private_key)
        return self._signer


def store_desk_key(
    desk: Desk, private_pem: bytes, *, kid: str | None, demo_only: bool, at_ms: int
) -> str:
    """Make `private_pem` the desk's signing key; other active desk keys are retired.

    Idempotent for the same key and kid. Returns the kid.
    """
    alg, private_key = desk_key_from_private(private_pem)
    public_key = private_key.public_key()
    fingerprint = public_fingerprint(public_key)
    kid = check_kid(kid or "desk-" + fingerprint.removeprefix("sha256:")[:16])
    canonical_private = private_pem_bytes(private_key)
    with desk.transaction() as conn:
        row = desk_key_row(conn, kid)
        store = read_keystore(desk.keystore_path)
        if row is not None:
            if (
                row["source"] != "desk"
                or row["fingerprint"] != fingerprint
                or row["status"] != "active"
            ):
                raise Conflict(f"kid {kid!r} already exists for another key; pick another kid")
        else:
            for other in active_desk_kids(conn):
                mark_retired(conn, other, at_ms)
                store.private_keys.pop(other, None)
            insert_key(
                conn,
                kid=kid,
                alg=alg,
                source="desk",
                at=at_ms,
                public_material=public_pem(public_key),
                issuer=DESK_ISSUER,
                fingerprint=fingerprint,
                demo_only=demo_only,
            )
            mark_changed(desk, at_ms)
        if store.private_keys.get(kid) != canonical_private:
            store.private_keys[kid] = canonical_private
            write_keystore(desk.keystore_path, store)
    return kid


def install_desk_key(
    desk: Desk, private_pem: bytes, *, kid: str, demo_only: bool, at_ms: int
) -> None:
    """Make `private_pem` the desk's signing key (the demo builder's fixture key).

    Deterministic: the same inputs give the same database bytes. The private key goes to the
    keystore file; the row holds the public key and its fingerprint.
    """
    store_desk_key(desk, private_pem, kid=kid, demo_only=demo_only, at_ms=at_ms)
