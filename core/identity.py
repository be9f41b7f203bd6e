"""Identity tokens (docs/tokens.md): one verifier for desk-minted and site-signed JWTs.

`Keyring(desk).verify(token, session_id=...)` returns a `VerifiedIdentity` or raises
`TokenRejected` with a stable code from `REJECTION_CODES`; every rejection is written to
`token_audit` (never the token, never a secret). The algorithm is fixed per key, never taken
from the token header. Parsing and signatures are PyJWT's; prepared key objects, parsed
headers and normalized contacts are cached so a verify costs less than a bare `jwt.decode`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import ECAlgorithm, HMACAlgorithm
from jwt.api_jws import PyJWS
from jwt.utils import base64url_decode, base64url_encode

from core.contacts import InvalidContact, normalize_email, normalize_name, normalize_phone
from core.errors import DeskError
from core.keyring import (
    ASYMMETRIC_ALGS,
    DESK_ISSUER,
    SUPPORTED_ALGS,
    KeyInfo,
    KeyringError,
    changes_key,
    check_jwks_url,
    check_kid,
    fetch_jwks,
    insert_row,
    key_apps,
    key_info,
    keyring_version,
    load_public_pem,
    load_rows,
    local_changes,
    mark_changed,
    parse_jwks,
    prepare_secret,
    private_pem_bytes,
    public_fingerprint,
    public_pem,
    read_keystore,
    retire_row,
    store_desk_key,
    write_keystore,
)
from core.store import Desk

if TYPE_CHECKING:  # httpx imports rich when it is installed; core must not (loaded lazily)
    import httpx

__all__ = [
    "REJECTION_CODES",
    "KeyInfo",
    "Keyring",
    "KeyringError",
    "TokenRejected",
    "VerifiedIdentity",
    "install_desk_key",
]

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
MAX_TOKEN_BYTES = 8 * 1024
DEFAULT_LEEWAY_S = 60
DEFAULT_MAX_LIFETIME_S = 3600
DEFAULT_TTL_S = 600
#: An unknown kid refreshes a JWKS-URL keyset at most this often.
JWKS_REFRESH_INTERVAL_MS = 60_000
#: A fetched JWKS-URL keyset is re-fetched (rate limit permitting) once it is this old.
JWKS_MAX_AGE_MS = 600_000
#: How stale a running Keyring may be about another process's key change.
DEFAULT_CHECK_INTERVAL_MS = 200
MAX_JTI_LENGTH = 256
MAX_AUDIT_TEXT = 200
#: NumericDate bounds (seconds): anything outside is not a time a token can carry.
_MAX_NUMERIC_DATE = 1 << 41
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_UNLOADED = object()


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


# -- PyJWT, with prepared keys ---------------------------------------------------------------


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
    header segment's bytes are cached like `_header` (keys reuse one header); PyJWT still
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


_JWS = _PreparedJWS(algorithms=list(ASYMMETRIC_ALGS))
_JWS.register_algorithm("HS256", _PreparedHMAC(HMACAlgorithm.SHA256))
_JWS.unregister_algorithm("ES256")
_JWS.register_algorithm("ES256", _PreparedEC(ECAlgorithm.SHA256, SECP256R1))


@lru_cache(maxsize=1024)
def _header(segment: str) -> dict[str, Any]:
    """The JOSE header of a token's first segment, parsed by PyJWT (cached: keys reuse it)."""
    return _JWS.get_unverified_header(segment + "..")


@lru_cache(maxsize=65536)
def _email(value: str) -> str:
    return normalize_email(value)


@lru_cache(maxsize=65536)
def _phone(value: str) -> str:
    """Signed phone claims: any possible E.164 number (the signing site is the authority;
    validity metadata lags new number ranges). Extensions are still refused."""
    return normalize_phone(value, strict=False)


@lru_cache(maxsize=65536)
def _name(value: str) -> str | None:
    return normalize_name(value, required=False)


def _prepare(alg: str, material: str | bytes) -> Any:
    """A verification key object PyJWT accepts without further preparation."""
    if alg == "HS256":
        assert isinstance(material, bytes)
        return _Secret(prepare_secret(material))
    text = material.decode("ascii") if isinstance(material, bytes) else material
    if text.lstrip().startswith("{"):
        return jwt.PyJWK(json.loads(text), algorithm=alg).key
    return load_public_pem(text.encode("ascii"), alg)[1]


class _Key:
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


class _RemoteKeyset:
    """A JWKS-URL keyset: members fetched with httpx and cached in memory."""

    def __init__(self, row: Any) -> None:
        self.label: str = row["kid"]
        self.url: str = row["jwks_url"]
        self.allowed = tuple(a for a in row["alg"].split(",") if a in ASYMMETRIC_ALGS)
        self.status: str = row["status"]
        self.issuer: str | None = row["issuer"]
        self.audience: str | None = row["audience"]
        self.apps = key_apps(row["apps"])
        self.members: dict[str, _Key] = {}
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
            key = _Key(
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


def _reject(code: str, detail: str, kid: str | None = None) -> TokenRejected:
    return TokenRejected(code, detail, kid=kid)


def _numeric_ms(payload: dict[str, Any], claim: str, kid: str) -> int:
    value = payload[claim]
    if (type(value) is int or (type(value) is float and math.isfinite(value))) and (
        0 <= value < _MAX_NUMERIC_DATE
    ):
        return int(value * 1000)
    raise _reject("malformed", f"claim {claim} must be a NumericDate (seconds since epoch)", kid)


class Keyring:
    """The desk's verifier and key store. Thread-safe; one per desk per process is enough.

    Key changes made in this process are seen at once; changes by other processes (a CLI
    `keys retire` while a server runs) by comparing the `keyring.version` setting (one
    primary-key read) at most every `check_interval_ms` (0: on every verify).
    """

    def __init__(
        self,
        desk: Desk,
        *,
        http_client: httpx.Client | None = None,
        leeway_s: int = DEFAULT_LEEWAY_S,
        max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S,
        check_interval_ms: int = DEFAULT_CHECK_INTERVAL_MS,
    ) -> None:
        self.desk = desk
        self.leeway_ms = leeway_s * 1000
        self.max_lifetime_s = max_lifetime_s
        self.check_interval_s = check_interval_ms / 1000
        self._http = http_client
        self._owns_http = False
        self._lock = threading.RLock()
        self._version: object = _UNLOADED
        self._next_check = 0.0
        self._local_seen = -1
        self._changes_key = changes_key(desk.path)
        self._keys: dict[str, _Key] = {}
        self._remote: list[_RemoteKeyset] = []
        self._retired_remote: dict[str, _Key] = {}
        self._signer: tuple[str, str, Any] | None = None
        self._binds = 0

    # -- keeping up with the database ---------------------------------------------------------

    def _sync(self) -> None:
        local = local_changes(self._changes_key)
        if local != self._local_seen:
            self._local_seen = local
        elif self.check_interval_s:
            now = time.monotonic()
            if now < self._next_check:
                return
            self._next_check = now + self.check_interval_s
        version = keyring_version(self.desk)
        if version != self._version:
            self.reload()

    def reload(self) -> None:
        """Re-read keys and keystore now, keeping prepared key objects that did not change."""
        with self._lock:
            with self.desk.reading():
                version = keyring_version(self.desk)
                rows = load_rows(self.desk)
            store = read_keystore(self.desk.keystore_path)
            old_keys, old_remote = self._keys, {r.label: r for r in self._remote}
            keys: dict[str, _Key] = {}
            remote: list[_RemoteKeyset] = []
            retired_remote: dict[str, _Key] = {}
            for row in rows:
                kid, source = row["kid"], row["source"]
                if source == "jwks_url":
                    keyset = old_remote.get(kid)
                    if keyset is None or keyset.url != row["jwks_url"]:
                        keyset = _RemoteKeyset(row)
                    keyset.status, keyset.apps = row["status"], key_apps(row["apps"])
                    for member in keyset.members.values():
                        member.apps = keyset.apps
                    if row["status"] == "active":
                        remote.append(keyset)
                    else:
                        for member in keyset.members.values():
                            member.status = "retired"
                            retired_remote.setdefault(member.kid, member)
                    continue
                material: str | bytes | None
                material = store.secrets.get(kid) if source == "secret" else row["public_material"]
                key = old_keys.get(kid)
                if key is None or key.material != material:
                    key = _Key(
                        kid,
                        row["alg"],
                        material,
                        site=source != "desk",
                        status=row["status"],
                        issuer=row["issuer"],
                        audience=row["audience"],
                    )
                key.status, key.issuer, key.audience = row["status"], row["issuer"], row["audience"]
                key.apps = key_apps(row["apps"])
                keys[kid] = key
            self._keys, self._remote, self._retired_remote = keys, remote, retired_remote
            self._signer = None
            self._version = version
            self._next_check = time.monotonic() + self.check_interval_s

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._http = httpx.Client()
            self._owns_http = True
        return self._http

    def _find(self, kid: str, now: int) -> _Key:
        if type(kid) is str and not kid.isprintable():
            # Control characters or lone surrogates: no key has such an id (and the audit
            # row records it escaped).
            raise _reject("unknown_kid", "kid is not printable text", ascii(kid)[:MAX_AUDIT_TEXT])
        key = self._keys.get(kid)
        if key is None:
            key = self._find_remote(kid, now)
        if key.status != "active":
            raise _reject("key_retired", f"key {kid!r} is retired", kid)
        return key

    def _find_remote(self, kid: str, now: int) -> _Key:
        with self._lock:
            for keyset in self._remote:
                if keyset.stale(now) and keyset.due(now):
                    keyset.refresh(self._client(), now)
                member = keyset.members.get(kid)
                if member is None and keyset.due(now):
                    keyset.refresh(self._client(), now)
                    member = keyset.members.get(kid)
                if member is not None:
                    return member
            retired = self._retired_remote.get(kid)
            if retired is not None:
                return retired
        raise _reject("unknown_kid", f"no key with kid {kid[:80]!r}", kid)

    # -- verifying ------------------------------------------------------------------------------

    def verify(
        self,
        token: str,
        *,
        session_id: str | None = None,
        client_address: str | None = None,
        app_id: str | None = None,
        bind: bool = True,
    ) -> VerifiedIdentity:
        """The identity `token` proves, or TokenRejected (recorded in `token_audit`).

        With `app_id` (a widget session's app), the token must be meant for that app: a
        desk-minted token's `aud` names it, and a site key must be bound to it. With
        `bind=False` the caller binds the jti itself (`bind_jti` inside its own transaction,
        then `audit` if that rejects it).
        """
        try:
            self._sync()
            identity = self._verify(token, app_id)
            if bind and identity.jti is not None and session_id is not None:
                self.bind_jti(identity, session_id)
            return identity
        except TokenRejected as rejection:
            self.audit(rejection, session_id, client_address)
            raise

    def _verify(self, token: str, app_id: str | None = None) -> VerifiedIdentity:
        if isinstance(token, bytes):
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError:
                raise _reject("malformed", "token is not ASCII") from None
        if not isinstance(token, str):
            raise _reject("malformed", "token must be a string")
        if len(token) > MAX_TOKEN_BYTES:
            raise _reject("too_large", f"token longer than {MAX_TOKEN_BYTES} bytes")
        if _TOKEN_RE.fullmatch(token) is None:
            raise _reject("malformed", "not a compact JWS (three base64url segments)")
        try:
            header = _header(token[: token.index(".")])
        except jwt.PyJWTError as exc:
            raise _reject("malformed", f"bad header ({type(exc).__name__})") from None
        alg = header.get("alg")
        kid = header.get("kid")
        if not isinstance(alg, str):
            raise _reject("malformed", "header alg missing or not a string", kid)
        if alg not in SUPPORTED_ALGS:
            raise _reject("alg_not_allowed", f"alg {alg[:20]!r} is not accepted", kid)
        if kid is None:
            raise _reject("unknown_kid", "token header has no kid")
        now = self.desk.clock.now_ms()
        key = self._find(kid, now)
        if alg != key.alg:
            raise _reject(
                "alg_not_allowed", f"key {kid!r} accepts {key.alg} only, not {alg[:20]}", kid
            )
        try:
            signed = _JWS.decode_complete(token, key.key(), key.algs)["payload"]
            payload = json.loads(signed.decode("utf-8"))
        except jwt.InvalidSignatureError:
            raise _reject("bad_signature", "signature does not verify", kid) from None
        except jwt.InvalidAlgorithmError:
            raise _reject("alg_not_allowed", f"key {kid!r} accepts {key.alg} only", kid) from None
        except (jwt.PyJWTError, ValueError, RecursionError) as exc:  # incl. UnicodeDecodeError
            raise _reject("malformed", f"cannot decode ({type(exc).__name__})", kid) from None
        if type(payload) is not dict:
            raise _reject("malformed", "payload is not a JSON object", kid)
        return self._claims(payload, key, now, app_id)

    def _claims(
        self, payload: dict[str, Any], key: _Key, now: int, app_id: str | None
    ) -> VerifiedIdentity:
        kid = key.kid
        for claim in ("exp", "iat"):
            if payload.get(claim) is None:
                raise _reject("missing_claim", f"claim {claim} is required", kid)
        exp = _numeric_ms(payload, "exp", kid)
        iat = _numeric_ms(payload, "iat", kid)
        leeway = self.leeway_ms
        if iat > now + leeway:
            raise _reject("issued_in_future", "iat is in the future beyond the leeway", kid)
        if exp < iat:
            raise _reject("malformed", "exp is before iat", kid)
        if exp - iat > self.max_lifetime_s * 1000:
            raise _reject("lifetime_too_long", f"exp - iat exceeds {self.max_lifetime_s} s", kid)
        if now >= exp + leeway:
            raise _reject("expired", "exp has passed", kid)
        if payload.get("nbf") is not None and _numeric_ms(payload, "nbf", kid) > now + leeway:
            raise _reject("not_yet_valid", "nbf is in the future", kid)
        if key.issuer is not None:
            iss = payload.get("iss")
            if iss is None:
                raise _reject("missing_claim", "claim iss is required by this key", kid)
            if iss != key.issuer:
                raise _reject("bad_issuer", "iss does not match the key's issuer", kid)
        aud = payload.get("aud")
        if not key.site:
            # Desk-minted tokens name the app they are for.
            if aud is None:
                raise _reject("missing_claim", "claim aud (the app) is required", kid)
            if type(aud) is not str:
                raise _reject("bad_audience", "aud must be one app id", kid)
            if app_id is not None and aud != app_id:
                raise _reject("bad_audience", "token was minted for another app", kid)
        elif key.audience is not None:
            if aud is None:
                raise _reject("missing_claim", "claim aud is required by this key", kid)
            if not (
                aud == key.audience
                or (type(aud) is list and key.audience in aud and all(type(a) is str for a in aud))
            ):
                raise _reject("bad_audience", "aud does not include the key's audience", kid)
        elif aud is not None:
            raise _reject("bad_audience", "token has aud but the key has no audience", kid)
        if key.site and app_id is not None and not self._serves(key, app_id):
            raise _reject("bad_audience", f"key {kid!r} is not bound to this app", kid)
        email, phone = payload.get("email"), payload.get("phone")
        if (email is None) == (phone is None):
            raise _reject("bad_identity", "exactly one of email or phone is required", kid)
        which = "email" if email is not None else "phone"
        try:
            if email is not None:
                if type(email) is not str:
                    raise InvalidContact("email must be a string")
                email = _email(email)
            else:
                if type(phone) is not str:
                    raise InvalidContact("phone must be a string")
                phone = _phone(phone)
            which = "name"
            name = payload.get("name")
            if name is not None:
                if type(name) is not str:
                    raise InvalidContact("name must be a string")
                name = _name(name)
        except InvalidContact:
            raise _reject("bad_identity", f"claim {which} is not valid", kid) from None
        jti = payload.get("jti")
        if jti is not None and (type(jti) is not str or not 0 < len(jti) <= MAX_JTI_LENGTH):
            raise _reject(
                "malformed", f"claim jti must be a string of 1-{MAX_JTI_LENGTH} characters", kid
            )
        return VerifiedIdentity(
            email=email,
            phone=phone,
            name=name,
            kid=kid,
            source="site" if key.site else "desk",
            expires_at=exp,
            issued_at=iat,
            jti=jti,
            scope=key.scope,
        )

    def _serves(self, key: _Key, app_id: str) -> bool:
        """Whether a site key may trust sessions of `app_id`: the apps it is bound to, or,
        unbound, the desk's only app."""
        if key.apps:
            return app_id in key.apps
        apps = self.desk.query("SELECT app_id FROM apps LIMIT 2")
        return len(apps) == 1 and apps[0][0] == app_id

    def is_retired(self, kid: str) -> bool:
        """Whether `kid` (a key, or a member of a JWKS-URL keyset) has been retired."""
        self._sync()
        key = self._keys.get(kid)
        if key is not None:
            return key.status != "active"
        return kid in self._retired_remote

    def bind_jti(self, identity: VerifiedIdentity, session_id: str) -> None:
        """Rule 8: a jti belongs to the first session that presents it (until it expires).

        Each key (or JWKS-URL keyset) has its own jti namespace: one site cannot burn
        another's. Bindings from before scopes existed (`*`) hold for every key.
        """
        now = self.desk.clock.now_ms()
        assert identity.jti is not None
        with self.desk.transaction() as conn:
            rows = conn.execute(
                "SELECT scope, session_id, expires_at FROM jti_uses"
                " WHERE scope IN (?, '*') AND jti = ?",
                (identity.scope, identity.jti),
            ).fetchall()
            if any(r[1] != session_id and r[2] >= now for r in rows):
                raise _reject("replayed", "jti already used in another session", identity.kid)
            if not any(r[0] == identity.scope and r[1] == session_id for r in rows):
                conn.execute(
                    "INSERT INTO jti_uses (scope, jti, session_id, bound_at, expires_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, jti) DO UPDATE SET"
                    " session_id = excluded.session_id, bound_at = excluded.bound_at,"
                    " expires_at = excluded.expires_at",
                    (
                        identity.scope,
                        identity.jti,
                        session_id,
                        now,
                        identity.expires_at + self.leeway_ms,
                    ),
                )
                self._binds += 1
                if self._binds % 1000 == 0:
                    conn.execute("DELETE FROM jti_uses WHERE expires_at < ?", (now,))

    def audit(
        self, rejection: TokenRejected, session_id: str | None, client_address: str | None
    ) -> None:
        """Rule 9: record code, kid, session, time and our own detail; never the token."""
        now = self.desk.clock.now_ms()
        kid = rejection.kid[:MAX_AUDIT_TEXT] if isinstance(rejection.kid, str) else None
        if kid is not None and not kid.isprintable():
            kid = ascii(kid)[:MAX_AUDIT_TEXT]
        with self.desk.transaction() as conn:
            conn.execute(
                "INSERT INTO token_audit (at, code, kid, session_id, client_address, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    now,
                    rejection.code,
                    kid,
                    session_id[:MAX_AUDIT_TEXT] if isinstance(session_id, str) else None,
                    client_address[:MAX_AUDIT_TEXT] if isinstance(client_address, str) else None,
                    rejection.detail[:MAX_AUDIT_TEXT],
                ),
            )
            self.desk.emit("token.rejected", at=now, session_id=session_id)

    # -- minting ------------------------------------------------------------------------------

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
            claims["email"] = _email(email) if isinstance(email, str) else normalize_email(email)
        else:
            claims["phone"] = _phone(phone) if isinstance(phone, str) else normalize_phone(phone)
        display_name = normalize_name(name, required=False)
        if display_name is not None:
            claims["name"] = display_name
        if type(ttl_s) is not int or not 0 < ttl_s <= self.max_lifetime_s:
            raise DeskError(f"ttl: expected 1 to {self.max_lifetime_s} seconds, got {ttl_s!r}")
        if jti is not None and (not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH):
            raise DeskError(f"jti: expected 1 to {MAX_JTI_LENGTH} characters")
        claims["jti"] = jti if jti is not None else secrets.token_urlsafe(16)
        audience = self.resolve_app(app_id)
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

    def resolve_app(self, app_id: object) -> str:
        """The app a token or key is for: `app_id` checked, or the desk's only app."""
        apps = [r[0] for r in self.desk.query("SELECT app_id FROM apps ORDER BY app_id")]
        if app_id is None:
            if len(apps) == 1:
                return str(apps[0])
            if not apps:
                raise DeskError("the desk has no app configured")
            raise DeskError(f"app: the desk has several apps; name one of: {', '.join(apps)}")
        if not isinstance(app_id, str) or app_id not in apps:
            shown = str(app_id)[:100] if isinstance(app_id, str) else type(app_id).__name__
            raise DeskError(f"app {shown!r} is not configured on this desk")
        return app_id

    def _desk_signer(self) -> tuple[str, str, Any]:
        """The desk's current signing key; created (ES256) when the desk has none."""
        self._sync()
        signer = self._signer
        if signer is not None:
            return signer
        with self._lock, self.desk.transaction() as conn:
            row = conn.execute(
                "SELECT kid, alg FROM signing_keys WHERE source = 'desk' AND status = 'active'"
                " ORDER BY created_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
            if row is None:
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
                kid, alg = row["kid"], row["alg"]
        pem = read_keystore(self.desk.keystore_path).private_keys.get(kid)
        if pem is None:
            raise KeyringError(
                f"the desk signing key {kid!r} has no private key in {self.desk.keystore_path}"
                f" (keystore lost or not copied); retire it (gladdesk keys retire {kid})"
                " and a new one is created"
            )
        private_key = serialization.load_pem_private_key(pem, password=None)
        self.reload()
        self._signer = (kid, alg, private_key)
        return self._signer

    # -- managing keys --------------------------------------------------------------------------

    def add_key(
        self,
        *,
        kid: str | None = None,
        alg: str | None = None,
        secret: bytes | None = None,
        public_key_pem: bytes | None = None,
        jwks: bytes | str | dict[str, Any] | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        apps: tuple[str, ...] | list[str] = (),
    ) -> list[KeyInfo]:
        """Register site keys from exactly one source; returns the rows added.

        `secret` (HS256; kept in the keystore), `public_key_pem` (RS256/ES256), `jwks` (a
        JWKS document: every key in it, or only `kid`), `jwks_url` (fetched now and when an
        unknown kid appears; `kid` names the keyset). `apps`: the apps whose sessions the
        key may trust; required when the desk has more than one app.
        """
        sources = [s for s in (secret, public_key_pem, jwks, jwks_url) if s is not None]
        if len(sources) != 1:
            raise KeyringError(
                "give exactly one of a secret, a public key PEM, a JWKS or a JWKS URL"
            )
        if alg is not None and alg not in SUPPORTED_ALGS:
            raise KeyringError(f"alg {alg!r}: use one of {', '.join(SUPPORTED_ALGS)}")
        for label, value in (("issuer", issuer), ("audience", audience)):
            if value is not None and (
                not isinstance(value, str) or not value.strip() or len(value) > 500
            ):
                raise KeyringError(
                    f"{label}: expected a non-empty string of at most 500 characters"
                )
        bound = self._check_apps(apps)
        fetched: bytes | None = None
        if jwks_url is not None:
            if alg == "HS256":
                raise KeyringError("JWKS keys are RS256 or ES256 public keys")
            fetched = fetch_jwks(self._client(), check_jwks_url(jwks_url))
        now = self.desk.clock.now_ms()
        common = {"at": now, "issuer": issuer, "audience": audience, "apps": bound}
        added: list[str] = []
        with self._lock, self.desk.transaction() as conn:
            if secret is not None:
                kid = check_kid(kid)
                if alg not in (None, "HS256"):
                    raise KeyringError(f"a secret is for HS256, not {alg}")
                prepared = prepare_secret(bytes(secret))
                insert_row(conn, kid=kid, alg="HS256", source="secret", **common)  # type: ignore[arg-type]
                store = read_keystore(self.desk.keystore_path)
                store.secrets[kid] = bytes(prepared)
                write_keystore(self.desk.keystore_path, store)
                added.append(kid)
            elif public_key_pem is not None:
                kid = check_kid(kid)
                if alg == "HS256":
                    raise KeyringError("a public key is for RS256 or ES256, not HS256")
                key_alg, public_key = load_public_pem(bytes(public_key_pem), alg)
                insert_row(
                    conn,
                    kid=kid,
                    alg=key_alg,
                    source="pem",
                    public_material=public_pem(public_key),
                    fingerprint=public_fingerprint(public_key),
                    **common,  # type: ignore[arg-type]
                )
                added.append(kid)
            elif jwks is not None:
                if alg == "HS256":
                    raise KeyringError("JWKS keys are RS256 or ES256 public keys")
                entries = parse_jwks(jwks, allowed=(alg,) if alg else ASYMMETRIC_ALGS)
                if kid is not None:
                    entries = [e for e in entries if e.kid == kid]
                    if not entries:
                        raise KeyringError(f"the JWKS has no key with kid {kid!r}")
                if not entries:
                    raise KeyringError("the JWKS has no keys")
                for entry in entries:
                    insert_row(
                        conn,
                        kid=entry.kid,
                        alg=entry.alg,
                        source="jwks_file",
                        public_material=entry.jwk_json,
                        fingerprint=public_fingerprint(entry.public_key),
                        **common,  # type: ignore[arg-type]
                    )
                    added.append(entry.kid)
            else:
                assert jwks_url is not None and fetched is not None
                url = jwks_url
                allowed = (alg,) if alg else ASYMMETRIC_ALGS
                label = check_kid(kid) if kid is not None else check_kid("jwks-" + _short_hash(url))
                entries = parse_jwks(fetched, allowed=allowed, strict=False)
                if not entries:
                    raise KeyringError(f"JWKS URL {url[:80]}: no usable {'/'.join(allowed)} keys")
                snapshot = json.dumps(
                    {"keys": [json.loads(e.jwk_json) for e in entries]}, sort_keys=True
                )
                insert_row(
                    conn,
                    kid=label,
                    alg=",".join(allowed),
                    source="jwks_url",
                    public_material=snapshot,
                    jwks_url=url,
                    **common,  # type: ignore[arg-type]
                )
                added.append(label)
            mark_changed(self.desk, now)
            rows = conn.execute(
                f"SELECT * FROM signing_keys WHERE kid IN ({','.join('?' * len(added))})", added
            ).fetchall()
        self.reload()
        return [key_info(row) for row in rows]

    def _check_apps(self, apps: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        known = [r[0] for r in self.desk.query("SELECT app_id FROM apps ORDER BY app_id")]
        for app in apps:
            if app not in known:
                raise KeyringError(
                    f"app {str(app)[:100]!r} is not configured (known: {', '.join(known) or 'none'})"
                )
        if not apps and len(known) > 1:
            raise KeyringError(
                f"name the apps this key may trust (--app): the desk has {', '.join(known)}"
            )
        return tuple(sorted(set(apps)))

    def retire(self, kid: str) -> KeyInfo:
        """Retire a key: tokens signed with it are rejected as `key_retired` from now on."""
        info = retire_row(self.desk, kid, self.desk.clock.now_ms())
        self.reload()
        return info

    def list_keys(self) -> list[KeyInfo]:
        return [key_info(row) for row in load_rows(self.desk)]

    def close(self) -> None:
        if self._http is not None and self._owns_http:
            self._http.close()
            self._http = None


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def install_desk_key(
    desk: Desk, private_pem: bytes, *, kid: str, demo_only: bool, at_ms: int
) -> None:
    """Make `private_pem` the desk's signing key (the demo builder's fixture key).

    Deterministic: the same inputs give the same database bytes. The private key goes to the
    keystore file; the row holds the public key and its fingerprint.
    """
    store_desk_key(desk, private_pem, kid=kid, demo_only=demo_only, at_ms=at_ms)
