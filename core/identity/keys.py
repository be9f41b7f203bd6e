"""Key administration: registering site keys, retiring keys, listing them.

A site key comes from exactly one source: an HS256 secret (kept in the keystore, never the
database), a PEM public key, a JWKS document, or a JWKS URL (one row naming the keyset). Key
ids are never reused. Every change marks the keyring changed, so running verifiers re-read it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from core.errors import Conflict, NotFound
from core.identity.jwks import parse_jwks
from core.identity.jwks_fetch import check_jwks_url
from core.identity.keystore import read_keystore, write_keystore
from core.identity.material import (
    ASYMMETRIC_ALGS,
    SUPPORTED_ALGS,
    KeyringError,
    check_kid,
    check_optional_text,
    load_public_pem,
    prepare_secret,
    public_fingerprint,
    public_pem,
)
from core.identity.verifier import Verifier
from core.store import Desk
from core.store.keys import (
    KeyInfo,
    app_ids,
    insert_key,
    key_info,
    key_infos,
    key_infos_of,
    mark_changed,
    mark_retired,
)


class KeyAdministration:
    """Adds, retires and lists keys (a part of `Keyring`); `verifier` re-reads them at once."""

    def __init__(self, desk: Desk, verifier: Verifier) -> None:
        self.desk = desk
        self.verifier = verifier

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
        JWKS document: every key in it, or only `kid`), `jwks_url` (https://, or http:// to a
        loopback host; fetched now and when an unknown kid appears; `kid` names the keyset).
        `apps`: the apps whose sessions the key may trust; required when the desk has more
        than one app.
        """
        sources = [s for s in (secret, public_key_pem, jwks, jwks_url) if s is not None]
        if len(sources) != 1:
            raise KeyringError(
                "give exactly one of a secret, a public key PEM, a JWKS or a JWKS URL"
            )
        if alg is not None and alg not in SUPPORTED_ALGS:
            raise KeyringError(f"alg {alg!r}: use one of {', '.join(SUPPORTED_ALGS)}")
        check_optional_text("issuer", issuer)
        check_optional_text("audience", audience)
        bound = self._check_apps(apps)
        kept_secret: bytes | None = None
        if secret is not None:
            secret_row, kept_secret = _secret_row(kid, alg, secret)
            rows = [secret_row]
        elif public_key_pem is not None:
            rows = [_public_key_row(kid, alg, public_key_pem)]
        elif jwks is not None:
            rows = _jwks_rows(kid, alg, jwks)
        else:
            assert jwks_url is not None
            rows = [self._jwks_url_row(kid, alg, jwks_url)]
        now = self.desk.clock.now_ms()
        with self.verifier.writing_keys(), self.desk.transaction() as conn:
            for row in rows:
                insert_key(conn, **row, at=now, issuer=issuer, audience=audience, apps=bound)
            if kept_secret is not None:
                store = read_keystore(self.desk.keystore_path)
                store.secrets[rows[0]["kid"]] = kept_secret
                write_keystore(self.desk.keystore_path, store)
            mark_changed(self.desk, now)
            infos = key_infos_of(conn, [row["kid"] for row in rows])
        self.verifier.reload()
        return infos

    def _jwks_url_row(self, kid: str | None, alg: str | None, url: str) -> dict[str, Any]:
        """A JWKS URL: one row naming the keyset, with a snapshot of the keys fetched now."""
        if alg == "HS256":
            raise KeyringError("JWKS keys are RS256 or ES256 public keys")
        fetched = self.verifier.fetch_jwks(check_jwks_url(url))
        allowed = (alg,) if alg else ASYMMETRIC_ALGS
        label = check_kid(kid) if kid is not None else check_kid("jwks-" + _short_hash(url))
        entries = parse_jwks(fetched, allowed=allowed, strict=False)
        if not entries:
            raise KeyringError(f"JWKS URL {url[:80]}: no usable {'/'.join(allowed)} keys")
        snapshot = json.dumps({"keys": [json.loads(e.jwk_json) for e in entries]}, sort_keys=True)
        return {
            "kid": label,
            "alg": ",".join(allowed),
            "source": "jwks_url",
            "public_material": snapshot,
            "jwks_url": url,
        }

    def _check_apps(self, apps: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        known = app_ids(self.desk)
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
        info = retire_key(self.desk, kid, self.desk.clock.now_ms())
        self.verifier.reload()
        return info

    def list_keys(self) -> list[KeyInfo]:
        return key_infos(self.desk)


# -- the rows each other kind of source adds (checked before anything is written) -------------


def _secret_row(kid: str | None, alg: str | None, secret: bytes) -> tuple[dict[str, Any], bytes]:
    """An HS256 secret: its row, and the checked secret for the keystore."""
    kid = check_kid(kid)
    if alg not in (None, "HS256"):
        raise KeyringError(f"a secret is for HS256, not {alg}")
    prepared = prepare_secret(bytes(secret))
    return {"kid": kid, "alg": "HS256", "source": "secret"}, bytes(prepared)


def _public_key_row(kid: str | None, alg: str | None, pem: bytes) -> dict[str, Any]:
    """An RS256 or ES256 public key in PEM."""
    kid = check_kid(kid)
    if alg == "HS256":
        raise KeyringError("a public key is for RS256 or ES256, not HS256")
    key_alg, public_key = load_public_pem(bytes(pem), alg)
    return {
        "kid": kid,
        "alg": key_alg,
        "source": "pem",
        "public_material": public_pem(public_key),
        "fingerprint": public_fingerprint(public_key),
    }


def _jwks_rows(
    kid: str | None, alg: str | None, jwks: bytes | str | dict[str, Any]
) -> list[dict[str, Any]]:
    """Every key of a JWKS document (or only `kid`), one row each."""
    if alg == "HS256":
        raise KeyringError("JWKS keys are RS256 or ES256 public keys")
    entries = parse_jwks(jwks, allowed=(alg,) if alg else ASYMMETRIC_ALGS)
    if kid is not None:
        entries = [e for e in entries if e.kid == kid]
        if not entries:
            raise KeyringError(f"the JWKS has no key with kid {kid!r}")
    if not entries:
        raise KeyringError("the JWKS has no keys")
    return [
        {
            "kid": entry.kid,
            "alg": entry.alg,
            "source": "jwks_file",
            "public_material": entry.jwk_json,
            "fingerprint": public_fingerprint(entry.public_key),
        }
        for entry in entries
    ]


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def retire_key(desk: Desk, kid: str, at: int) -> KeyInfo:
    """Retire `kid` and drop its secret or private key from the keystore."""
    with desk.transaction() as conn:
        info = key_info(conn, kid)
        if info is None:
            raise NotFound(f"no key with kid {kid[:80]!r} (see: gladdesk keys list)")
        if info.status == "retired":
            raise Conflict(f"key {kid!r} is already retired")
        mark_retired(conn, kid, at)
        mark_changed(desk, at)
        store = read_keystore(desk.keystore_path)
        if kid in store.secrets or kid in store.private_keys:
            store.secrets.pop(kid, None)
            store.private_keys.pop(kid, None)
            write_keystore(desk.keystore_path, store)
        info = key_info(conn, kid)
    assert info is not None
    return info
