"""JWS parsing and signature checks: PyJWT, with keys prepared once.

PyJWT does the parsing and the signature checks; this module saves it repeated work. A key
object is prepared on first use and kept (`VerifyingKey`); parsed headers are cached (keys
reuse one header); HS256 secrets are checked once, ES256 builds its signature scheme once,
and base64url segments are checked with one regex, so a verify costs less than a bare
`jwt.decode`.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import ECAlgorithm, HMACAlgorithm
from jwt.api_jws import PyJWS
from jwt.utils import base64url_decode, base64url_encode

from core.errors import DeskError
from core.identity.claims import TokenRejected
from core.identity.material import ASYMMETRIC_ALGS, load_public_pem, prepare_secret


class _Secret(bytes):
    """An HS256 secret already checked by HMACAlgorithm.prepare_key."""


class _PreparedHMAC(HMACAlgorithm):
    """HMAC that skips re-preparing a secret it has already checked (PyJWT re-checks per call)."""

    def prepare_key(self, key: str | bytes) -> bytes:
        if type(key) is _Secret:
            return key
        return super().prepare_key(key)

    def check_key_length(self, key: bytes) -> str | None:
        if type(key) is _Secret:  # prepare_secret refused anything under the digest size
            return None
        return super().check_key_length(key)


class _PreparedEC(ECAlgorithm):
    """ECDSA with its signature scheme object built once (PyJWT builds `ECDSA(SHA256())` per
    call) and the JOSE r||s signature turned into DER as PyJWT's `raw_to_der_signature` does,
    without its hex round trip per integer. The check itself is cryptography's, as before."""

    def __init__(self, hash_alg: Any, expected_curve: Any) -> None:
        super().__init__(hash_alg, expected_curve)
        self._scheme = ec.ECDSA(hash_alg())

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return super().verify(msg, key, sig)
        size = (key.curve.key_size + 7) // 8
        if len(sig) != 2 * size:
            return False
        r, s = int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
        try:
            key.verify(encode_dss_signature(r, s), msg, self._scheme)
        except InvalidSignature:
            return False
        return True


_B64URL_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*")


class _PreparedJWS(PyJWS):
    """PyJWS whose segment decoding checks the base64url alphabet with one compiled regex
    instead of a Python loop over every byte (about half of PyJWT's per-token parsing time).

    Only a canonical, unpadded, alphabet-only segment takes the fast path, where PyJWT's own
    check would pass it unchanged; anything else goes to PyJWT's check, with its errors. A
    header segment's bytes are cached like `token_header` (keys reuse one header); PyJWT still
    parses them on every call.
    """

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        if name == "header":
            return _header_bytes(segment)
        return _decode_segment(segment, name)


def _decode_segment(segment: bytes, name: str) -> bytes:
    if len(segment) % 4 != 1 and _B64URL_SEGMENT.fullmatch(segment) is not None:
        try:
            decoded = base64url_decode(segment)
        except ValueError:  # binascii.Error; cannot happen here, PyJWT decides
            pass
        else:
            if base64url_encode(decoded) == segment:
                return decoded
    return PyJWS._decode_base64url_segment(segment, name)


@lru_cache(maxsize=1024)
def _header_bytes(segment: bytes) -> bytes:
    return _decode_segment(segment, "header")


JWS = _PreparedJWS(algorithms=list(ASYMMETRIC_ALGS))
JWS.register_algorithm("HS256", _PreparedHMAC(HMACAlgorithm.SHA256))
JWS.unregister_algorithm("ES256")
JWS.register_algorithm("ES256", _PreparedEC(ECAlgorithm.SHA256, SECP256R1))


@lru_cache(maxsize=1024)
def token_header(segment: str) -> dict[str, Any]:
    """The JOSE header of a token's first segment, parsed by PyJWT (cached: keys reuse it)."""
    return JWS.get_unverified_header(segment + "..")


def _prepare(alg: str, material: str | bytes) -> Any:
    """A verification key object PyJWT accepts without further preparation."""
    if alg == "HS256":
        assert isinstance(material, bytes)
        return _Secret(prepare_secret(material))
    text = material.decode("ascii") if isinstance(material, bytes) else material
    if text.lstrip().startswith("{"):
        return jwt.PyJWK(json.loads(text), algorithm=alg).key
    return load_public_pem(text.encode("ascii"), alg)[1]


class VerifyingKey:
    """One verifying key, prepared on first use."""

    __slots__ = (
        "alg",
        "algs",
        "apps",
        "audience",
        "issuer",
        "kid",
        "material",
        "prepared",
        "scope",
        "site",
        "status",
    )

    def __init__(
        self,
        kid: str,
        alg: str,
        material: str | bytes | None,
        *,
        site: bool,
        status: str,
        issuer: str | None,
        audience: str | None,
        apps: tuple[str, ...] = (),
        scope: str | None = None,
    ) -> None:
        self.kid = kid
        self.alg = alg
        self.algs = [alg]
        #: Apps whose sessions this key may trust; () means the desk's only app.
        self.apps = apps
        #: The namespace of its jti values: the key, or the JWKS-URL keyset it came from.
        self.scope = scope or kid
        self.material = material
        self.site = site
        self.status = status
        self.issuer = issuer
        self.audience = audience
        self.prepared: Any = None

    def key(self) -> Any:
        prepared = self.prepared
        if prepared is None:
            if self.material is None:
                raise TokenRejected(
                    "unknown_kid", f"key {self.kid!r} has no secret in the keystore", kid=self.kid
                )
            try:
                prepared = self.prepared = _prepare(self.alg, self.material)
            except (DeskError, ValueError, TypeError, jwt.PyJWTError):
                raise TokenRejected(
                    "unknown_kid", f"key {self.kid!r} cannot be loaded", kid=self.kid
                ) from None
        return prepared
