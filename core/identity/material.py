"""Key material for identity tokens: key ids, HS256 secrets, public and private keys.

Checks what a key may be before anything is stored (docs/tokens.md): RS256 keys are RSA of at
least 2048 bits, ES256 keys EC P-256, HS256 secrets at least 32 bytes and not a key in
disguise; a private key is refused where a public one is expected. `KeyringError` is the
error for a key that cannot be added, read or used as asked.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import HMACAlgorithm

from core.errors import DeskError

#: Algorithms a key may be registered with. `none` and everything else never verify.
SUPPORTED_ALGS = ("HS256", "RS256", "ES256")
ASYMMETRIC_ALGS = ("RS256", "ES256")
#: Row sources, as in the schema.
KEY_SOURCES = ("desk", "secret", "pem", "jwks_file", "jwks_url")
#: The `iss` claim of desk-minted tokens (and the issuer the desk key is checked against).
DESK_ISSUER = "gladdesk"
MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
MAX_KID_LENGTH = 128
_KID_RE = re.compile(r"[A-Za-z0-9._:@+/=-]{1,128}")


class KeyringError(DeskError):
    """A key cannot be added, read or used as asked."""

    code = "invalid_key"


def check_kid(kid: object) -> str:
    """A key id: 1-128 printable characters without spaces."""
    if not isinstance(kid, str) or not _KID_RE.fullmatch(kid):
        raise KeyringError(
            f"kid {str(kid)[:40]!r}: use 1-{MAX_KID_LENGTH} characters from A-Z a-z 0-9 . _ : @ + / = -"
        )
    return kid


def check_optional_text(name: str, value: str | None) -> str | None:
    """`value` (an issuer or audience): None, or a non-empty string of at most 500 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 500:
        raise KeyringError(f"{name}: expected a non-empty string of at most 500 characters")
    return value


def public_fingerprint(public_key: Any) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo (public material only)."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()[:32]


def public_pem(public_key: Any) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def check_public_key(public_key: Any, alg: str) -> None:
    """The key type must match the algorithm: ES256 is P-256, RS256 is RSA >= 2048 bits."""
    if alg == "ES256":
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
            public_key.curve, ec.SECP256R1
        ):
            raise KeyringError("ES256 needs an EC P-256 public key")
    elif alg == "RS256":
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise KeyringError("RS256 needs an RSA public key")
        if public_key.key_size < MIN_RSA_BITS:
            raise KeyringError(f"RS256 keys must have at least {MIN_RSA_BITS} bits")
    else:
        raise KeyringError(f"alg {alg!r} is not a public-key algorithm (use RS256 or ES256)")


def alg_for_public_key(public_key: Any) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ES256"
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    raise KeyringError("only RSA (RS256) and EC P-256 (ES256) public keys are supported")


def load_public_pem(pem: bytes, alg: str | None) -> tuple[str, Any]:
    """(alg, public key) from PEM text; a private key is refused, never read further."""
    if b"PRIVATE KEY" in pem:
        raise KeyringError("this is a private key: register the public key (PEM) only")
    try:
        public_key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise KeyringError("not a PEM public key (expected -----BEGIN PUBLIC KEY-----)") from None
    alg = alg or alg_for_public_key(public_key)
    check_public_key(public_key, alg)
    return alg, public_key


def prepare_secret(secret: bytes) -> bytes:
    """Validate an HS256 secret once (length; not an asymmetric key in disguise)."""
    if len(secret) < MIN_SECRET_BYTES:
        raise KeyringError(f"HS256 secrets must be at least {MIN_SECRET_BYTES} bytes long")
    try:
        return HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
    except jwt.PyJWTError:
        raise KeyringError("this looks like a public/private key, not an HS256 secret") from None


def desk_key_from_private(private_pem: bytes) -> tuple[str, Any]:
    """(alg, private key) of a desk signing key PEM."""
    try:
        private_key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError):
        raise KeyringError("not an unencrypted PEM private key") from None
    alg = alg_for_public_key(private_key.public_key())
    check_public_key(private_key.public_key(), alg)
    return alg, private_key


def private_pem_bytes(private_key: Any) -> bytes:
    return private_key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
