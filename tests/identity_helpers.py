"""Shared keys, token builders and fixtures for the identity tests."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.utils import base64url_encode

from core.clock import ManualClock
from core.identity import Keyring
from core.store import Desk
from tests.helpers import seed_desk

T0_MS = 1_795_000_000_000
T0 = T0_MS // 1000
SECRET_HS1 = b"hs1-secret-0123456789abcdefghijklmnopqrstuvwxyz"
SECRET_HS2 = b"hs2-secret-ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210"
SECRET_OLD = b"old-secret-retired-retired-retired-retired-0000"
ISSUER = "https://shop.example"
AUDIENCE = "gladdesk-widget"
ALL_SECRETS = (SECRET_HS1, SECRET_HS2, SECRET_OLD)


@cache
def ec_key(name: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pub_pem(private: Any) -> bytes:
    return private.public_key().public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def priv_pem(private: Any) -> bytes:
    return private.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def jwk_of(private: Any, kid: str, alg: str) -> dict[str, Any]:
    algo = jwt.algorithms.ECAlgorithm if alg == "ES256" else jwt.algorithms.RSAAlgorithm
    return {**json.loads(algo.to_jwk(private.public_key())), "kid": kid, "alg": alg}


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims at T0; `None` values are removed."""
    base: dict[str, Any] = {
        "email": "Julie@Example.com",
        "name": "Julie  Doe",
        "iat": T0,
        "exp": T0 + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(
    payload: dict[str, Any] | bytes,
    *,
    kid: str | None = "hs1",
    alg: str = "HS256",
    key: Any = SECRET_HS1,
    headers: dict[str, Any] | None = None,
) -> str:
    """A token signed by PyJWT; `payload` bytes are signed as-is (non-JSON payloads)."""
    extra = dict(headers or {})
    if kid is not None:
        extra["kid"] = kid
    if not isinstance(payload, bytes):
        payload = json.dumps(payload).encode()
    return jwt.api_jws.encode(payload, key, algorithm=alg, headers=extra)


def raw_token(header: bytes, payload: bytes, signing_key: bytes | None = None) -> str:
    """A token assembled from raw segments; HMAC-SHA256 signed when a key is given."""
    signing_input = base64url_encode(header) + b"." + base64url_encode(payload)
    signature = b""
    if signing_key is not None:
        signature = base64url_encode(hmac.new(signing_key, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode()


@dataclass
class Site:
    desk: Desk
    clock: ManualClock
    keyring: Keyring


def make_site(path: Path, clock: ManualClock) -> Site:
    """A desk (one app, `shop`) with site keys hs1, hs2 (iss/aud), es1, rs1, and hs-old
    (retired)."""
    desk = Desk.open(path, clock=clock)
    seed_desk(desk, agents=())
    keyring = Keyring(desk, check_interval_ms=0)
    keyring.add_key(kid="hs1", secret=SECRET_HS1)
    keyring.add_key(kid="hs2", secret=SECRET_HS2, issuer=ISSUER, audience=AUDIENCE)
    keyring.add_key(kid="es1", public_key_pem=pub_pem(ec_key("es1")))
    keyring.add_key(kid="rs1", alg="RS256", public_key_pem=pub_pem(rsa_key("rs1")))
    keyring.add_key(kid="hs-old", secret=SECRET_OLD)
    keyring.retire("hs-old")
    return Site(desk, clock, keyring)


def open_site(tmp_path: Path) -> Iterator[Site]:
    """For a test module's `site` fixture: `yield from open_site(tmp_path)`."""
    site = make_site(tmp_path / "identity.db", ManualClock(T0_MS))
    yield site
    site.keyring.close()
    site.desk.close()


def audit_rows(desk: Desk) -> list[dict[str, Any]]:
    return [dict(row) for row in desk.query("SELECT * FROM token_audit ORDER BY id")]


def db_bytes(desk: Desk) -> bytes:
    """The database file and its WAL, as bytes on disk."""
    data = desk.path.read_bytes()
    wal = desk.path.with_name(desk.path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    return data
