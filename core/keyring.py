"""Key material for identity tokens: the keystore file, the `signing_keys` rows, JWKS.

Secrets never enter the database (docs/tokens.md, rule 9): HS256 secrets and the desk's private key
live in the keystore file beside it (`Desk.keystore_path`, JSON, mode 0600, replaced
atomically). A `signing_keys` row holds metadata and public material only. Every change to
the keyring emits `keys.changed` and records that event's id in the `keyring.version`
setting, in the same transaction, so a running `Keyring` notices with one primary-key read.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import HMACAlgorithm

from core.errors import Conflict, DeskError, NotFound
from core.store import Desk

if TYPE_CHECKING:  # httpx imports rich when it is installed; core must not (loaded lazily)
    import httpx

#: Algorithms a key may be registered with. `none` and everything else never verify.
SUPPORTED_ALGS = ("HS256", "RS256", "ES256")
ASYMMETRIC_ALGS = ("RS256", "ES256")
#: Row sources, as in the schema.
KEY_SOURCES = ("desk", "secret", "pem", "jwks_file", "jwks_url")
#: The `iss` claim of desk-minted tokens (and the issuer the desk key is checked against).
DESK_ISSUER = "gladdesk"
KEYS_CHANGED = "keys.changed"
VERSION_SETTING = "keyring.version"
MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
MAX_JWKS_BYTES = 1 << 20
MAX_KID_LENGTH = 128
JWKS_TIMEOUT_S = 5.0
_KID_RE = re.compile(r"[A-Za-z0-9._:@+/=-]{1,128}")
#: JWK members that carry private or symmetric key material: refused, never stored.
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_KEYSTORE_FORMAT = "gladdesk-keystore"


class KeyringError(DeskError):
    """A key cannot be added, read or used as asked."""

    code = "invalid_key"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What `keys list` shows about a key. Never a secret."""

    kid: str
    alg: str
    source: str
    status: str
    issuer: str | None
    audience: str | None
    fingerprint: str | None
    demo_only: bool
    created_at: int
    retired_at: int | None
    jwks_url: str | None
    apps: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def check_kid(kid: object) -> str:
    """A key id: 1-128 printable characters without spaces."""
    if not isinstance(kid, str) or not _KID_RE.fullmatch(kid):
        raise KeyringError(
            f"kid {str(kid)[:40]!r}: use 1-{MAX_KID_LENGTH} characters from A-Z a-z 0-9 . _ : @ + / = -"
        )
    return kid


def _check_optional_text(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 500:
        raise KeyringError(f"{name}: expected a non-empty string of at most 500 characters")
    return value


# -- the keystore file ------------------------------------------------------------------------


@dataclass(slots=True)
class KeystoreData:
    """The keystore's contents: HS256 secrets and private keys (PEM), by kid."""

    secrets: dict[str, bytes]
    private_keys: dict[str, bytes]


def read_keystore(path: Path) -> KeystoreData:
    """Read the keystore; a missing file is an empty keystore."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return KeystoreData({}, {})
    except OSError as exc:
        raise KeyringError(f"{path}: cannot read the keystore: {exc.strerror}") from None
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("format") != _KEYSTORE_FORMAT:
            raise ValueError("not a gladdesk keystore")
        secrets = {
            str(kid): base64.urlsafe_b64decode(value.encode("ascii"))
            for kid, value in doc.get("secrets", {}).items()
        }
        private_keys = {
            str(kid): value.encode("ascii") for kid, value in doc.get("private_keys", {}).items()
        }
    except (ValueError, TypeError, AttributeError) as exc:
        raise KeyringError(f"{path}: not a valid gladdesk keystore ({exc})") from None
    return KeystoreData(secrets, private_keys)


def write_keystore(path: Path, data: KeystoreData) -> None:
    """Replace the keystore atomically; the file is created with mode 0600."""
    doc = {
        "format": _KEYSTORE_FORMAT,
        "version": 1,
        "secrets": {
            kid: base64.urlsafe_b64encode(value).decode("ascii")
            for kid, value in sorted(data.secrets.items())
        },
        "private_keys": {
            kid: value.decode("ascii") for kid, value in sorted(data.private_keys.items())
        },
    }
    payload = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("ascii")
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# -- key material -------------------------------------------------------------------------------


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


# -- rows -----------------------------------------------------------------------------------


_COLUMNS = (
    "kid, alg, source, public_material, jwks_url, issuer, audience, status, fingerprint,"
    " demo_only, created_at, retired_at, apps"
)


def key_info(row: sqlite3.Row) -> KeyInfo:
    return KeyInfo(
        kid=row["kid"],
        alg=row["alg"],
        source=row["source"],
        status=row["status"],
        issuer=row["issuer"],
        audience=row["audience"],
        fingerprint=row["fingerprint"],
        demo_only=bool(row["demo_only"]),
        created_at=row["created_at"],
        retired_at=row["retired_at"],
        jwks_url=row["jwks_url"],
        apps=key_apps(row["apps"]),
    )


def key_apps(text: str | None) -> tuple[str, ...]:
    """The apps a key is bound to, from its `apps` column (a JSON list)."""
    if not text:
        return ()
    try:
        apps = json.loads(text)
    except ValueError:
        return ()
    return tuple(a for a in apps if isinstance(a, str)) if isinstance(apps, list) else ()


def load_rows(desk: Desk) -> list[sqlite3.Row]:
    return desk.query(f"SELECT {_COLUMNS} FROM signing_keys ORDER BY created_at, kid")


def desk_key_demo_only(desk: Desk) -> bool:
    """Whether the desk's newest active signing key is a demo-only one (False without one)."""
    row = desk.query_one(
        "SELECT demo_only FROM signing_keys WHERE source = 'desk' AND status = 'active'"
        " ORDER BY created_at DESC LIMIT 1"
    )
    return row is not None and bool(row[0])


def keyring_version(desk: Desk) -> str | None:
    """The id of the last `keys.changed` event (one primary-key read)."""
    row = desk.query_one("SELECT value FROM settings WHERE key = ?", (VERSION_SETTING,))
    return row[0] if row else None


#: Key changes made by this process, per database file: lets a Keyring notice them at once
#: while it checks the database for other processes' changes only every few ms.
_local_changes: dict[str, int] = {}


def changes_key(path: Path) -> str:
    """The key of `_local_changes` for a database file (resolved: one file, one key)."""
    return str(path.resolve())


def local_changes(key: str) -> int:
    return _local_changes.get(key, 0)


def mark_changed(desk: Desk, at: int) -> None:
    """Emit `keys.changed` and record it as the keyring version. Inside a transaction."""
    key = changes_key(desk.path)
    _local_changes[key] = _local_changes.get(key, 0) + 1
    event_id = desk.emit(KEYS_CHANGED, at=at)
    desk.conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (VERSION_SETTING, str(event_id)),
    )


def insert_row(
    conn: sqlite3.Connection,
    *,
    kid: str,
    alg: str,
    source: str,
    at: int,
    public_material: str | None = None,
    jwks_url: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    fingerprint: str | None = None,
    demo_only: bool = False,
    apps: tuple[str, ...] = (),
) -> None:
    existing = conn.execute("SELECT status FROM signing_keys WHERE kid = ?", (kid,)).fetchone()
    if existing is not None:
        raise Conflict(
            f"kid {kid!r} already exists ({existing[0]}); key ids are never reused, pick another"
        )
    conn.execute(
        "INSERT INTO signing_keys (kid, alg, source, public_material, jwks_url, issuer, audience,"
        " status, fingerprint, demo_only, created_at, apps)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)",
        (
            kid,
            alg,
            source,
            public_material,
            jwks_url,
            issuer,
            audience,
            fingerprint,
            int(demo_only),
            at,
            json.dumps(sorted(set(apps))),
        ),
    )


def retire_row(desk: Desk, kid: str, at: int) -> KeyInfo:
    """Retire `kid` and drop its secret or private key from the keystore."""
    with desk.transaction() as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM signing_keys WHERE kid = ?", (kid,)).fetchone()
        if row is None:
            raise NotFound(f"no key with kid {kid[:80]!r} (see: gladdesk keys list)")
        if row["status"] == "retired":
            raise Conflict(f"key {kid!r} is already retired")
        conn.execute(
            "UPDATE signing_keys SET status = 'retired', retired_at = ? WHERE kid = ?", (at, kid)
        )
        mark_changed(desk, at)
        store = read_keystore(desk.keystore_path)
        if kid in store.secrets or kid in store.private_keys:
            store.secrets.pop(kid, None)
            store.private_keys.pop(kid, None)
            write_keystore(desk.keystore_path, store)
        row = conn.execute(f"SELECT {_COLUMNS} FROM signing_keys WHERE kid = ?", (kid,)).fetchone()
    return key_info(row)


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
        row = conn.execute(
            "SELECT source, fingerprint, status FROM signing_keys WHERE kid = ?", (kid,)
        ).fetchone()
        store = read_keystore(desk.keystore_path)
        if row is not None:
            if (
                row["source"] != "desk"
                or row["fingerprint"] != fingerprint
                or row["status"] != "active"
            ):
                raise Conflict(f"kid {kid!r} already exists for another key; pick another kid")
        else:
            for (other,) in conn.execute(
                "SELECT kid FROM signing_keys WHERE source = 'desk' AND status = 'active'"
            ).fetchall():
                conn.execute(
                    "UPDATE signing_keys SET status = 'retired', retired_at = ? WHERE kid = ?",
                    (at_ms, other),
                )
                store.private_keys.pop(other, None)
            insert_row(
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
