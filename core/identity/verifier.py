"""The verifier (docs/tokens.md): one for desk-minted and site-signed JWTs.

`Verifier(desk).verify(token, session_id=...)` returns a `VerifiedIdentity` or raises
`TokenRejected` with a stable code from `REJECTION_CODES`; every rejection is written to
`token_audit` (never the token, never a secret). The algorithm is fixed per key, never taken
from the token header. The keys are read from the database and the keystore into memory and
re-read when the keyring changes, here or in another process. JWKS-URL keysets are fetched on
threads of their own (`core.identity.remote_keysets`), never under the verifier's lock.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from concurrent import futures
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import jwt

from core.errors import DeskError
from core.identity.claims import (
    TokenRejected,
    VerifiedIdentity,
    check_audience,
    check_issuer,
    check_jti,
    check_times,
    identity_claims,
    reject,
)
from core.identity.jwks_fetch import DEFAULT_JWKS_TIMEOUT_S, check_jwks_timeout, fetch_jwks
from core.identity.jws import JWS, VerifyingKey, token_header
from core.identity.keystore import read_keystore
from core.identity.material import SUPPORTED_ALGS
from core.identity.remote_keysets import RemoteKeysets
from core.store import Desk
from core.store.audit import AUDIT_ORIGINS, insert_token_audit, session_subject
from core.store.keys import (
    app_ids,
    bind_jti,
    changes_key,
    forget_expired_jtis,
    jti_uses,
    key_apps,
    key_rows,
    keyring_version,
    local_changes,
    only_app,
)

if TYPE_CHECKING:  # httpx imports rich when it is installed; core must not (loaded lazily)
    import httpx

MAX_TOKEN_BYTES = 8 * 1024
DEFAULT_LEEWAY_S = 60
DEFAULT_MAX_LIFETIME_S = 3600
#: How stale a running verifier may be about another process's key change.
DEFAULT_CHECK_INTERVAL_MS = 200
MAX_AUDIT_TEXT = 200
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_UNLOADED = object()


class Verifier:
    """Verifies tokens against the desk's keys. Thread-safe; one per desk per process is enough.

    Key changes made in this process are seen at once; changes by other processes (a CLI
    `keys retire` while a server runs) by comparing the `keyring.version` setting (one
    primary-key read) at most every `check_interval_ms` (0: on every verify).

    A token whose kid no key or JWKS-URL keyset holds starts a fetch of the keysets (one at a
    time per keyset, at most once a minute each); with `wait_for_jwks` the verify waits for
    it, at most `jwks_timeout_s`. A process that must never block on it (the web server)
    passes `wait_for_jwks=False` and waits for `jwks_fetches_for(token)` its own way first.
    """

    def __init__(
        self,
        desk: Desk,
        *,
        http_client: httpx.Client | None = None,
        leeway_s: int = DEFAULT_LEEWAY_S,
        max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S,
        check_interval_ms: int = DEFAULT_CHECK_INTERVAL_MS,
        jwks_timeout_s: float = DEFAULT_JWKS_TIMEOUT_S,
        wait_for_jwks: bool = True,
    ) -> None:
        self.desk = desk
        self.leeway_ms = leeway_s * 1000
        self.max_lifetime_s = max_lifetime_s
        self.check_interval_s = check_interval_ms / 1000
        self.jwks_timeout_s = check_jwks_timeout(jwks_timeout_s)
        self.wait_for_jwks = wait_for_jwks
        self._http = http_client
        self._owns_http = False
        self._http_lock = threading.Lock()
        self._lock = threading.RLock()
        self._version: object = _UNLOADED
        self._next_check = 0.0
        self._local_seen = -1
        self._changes_key = changes_key(desk.path)
        self._keys: dict[str, VerifyingKey] = {}
        self._remote = RemoteKeysets(self.fetch_jwks)
        self._binds = 0
        self._on_reload: list[Callable[[], None]] = []

    # -- keeping up with the database ---------------------------------------------------------

    def sync(self) -> None:
        """Catch up with key changes: re-read the keys if the keyring version moved (at once
        for this process's changes, at most every `check_interval_ms` for other processes')."""
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
                rows = key_rows(self.desk)
            store = read_keystore(self.desk.keystore_path)
            old_keys = self._keys
            keys: dict[str, VerifyingKey] = {}
            remote_rows = []
            for row in rows:
                kid, source = row["kid"], row["source"]
                if source == "jwks_url":
                    remote_rows.append(row)
                    continue
                material: str | bytes | None
                material = store.secrets.get(kid) if source == "secret" else row["public_material"]
                key = old_keys.get(kid)
                if key is None or key.material != material:
                    key = VerifyingKey(
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
            self._keys = keys
            self._remote.load(remote_rows)
            self._version = version
            self._next_check = time.monotonic() + self.check_interval_s
            for callback in self._on_reload:
                callback()

    def on_reload(self, callback: Callable[[], None]) -> None:
        """Call `callback` at the end of every re-read (under the lock): what a caller keeps
        from the keys it read is stale from then on."""
        self._on_reload.append(callback)

    def writing_keys(self) -> AbstractContextManager[bool]:
        """The lock over the keys held in memory (re-entrant): held while keys are written,
        so no re-read runs halfway through a change. Take it before the desk's transaction."""
        return self._lock

    def _client(self) -> httpx.Client:
        with self._http_lock:
            if self._http is None:
                import httpx

                self._http = httpx.Client()
                self._owns_http = True
            return self._http

    def fetch_jwks(self, url: str) -> bytes:
        """The JWKS document at `url`, fetched now (this verifier's client and deadline)."""
        return fetch_jwks(self._client(), url, timeout_s=self.jwks_timeout_s)

    def close(self) -> None:
        if self._http is not None and self._owns_http:
            self._http.close()
            self._http = None

    def _find(self, kid: str, now: int) -> VerifyingKey:
        if type(kid) is str and not kid.isprintable():
            # Control characters or lone surrogates: no key has such an id (and the audit
            # row records it escaped).
            raise reject("unknown_kid", "kid is not printable text", ascii(kid)[:MAX_AUDIT_TEXT])
        key = self._keys.get(kid)
        if key is None:
            key = self._find_remote(kid, now)
        if key.status != "active":
            raise reject("key_retired", f"key {kid!r} is retired", kid)
        return key

    def _find_remote(self, kid: str, now: int) -> VerifyingKey:
        """A member of a JWKS-URL keyset; an unknown kid waits for the keysets' fetch (if
        `wait_for_jwks`), never under the lock."""
        key = self._remote.find(kid, now)
        if key is not None:
            return key
        pending = self._remote.refreshes_for_unknown_kid(now)
        if pending and self.wait_for_jwks:
            futures.wait(pending, timeout=self.jwks_timeout_s)
            key = self._remote.find(kid, now)
            if key is not None:
                return key
        why = self._remote.why_unknown()
        detail = f"no key with kid {kid[:80]!r}" + (f" ({why})" if why else "")
        raise reject("unknown_kid", detail, kid)

    def jwks_fetches_for(self, token: object) -> list[futures.Future[bool]]:
        """The JWKS-URL fetches verifying `token` would wait for, started now if need be
        (its kid is in no key or keyset held). Never blocks on the network: the web server
        awaits these without holding a thread, then verifies."""
        self.sync()
        if not self._remote.active:
            return []
        kid = _kid_of(token)
        if kid is None or kid in self._keys:
            return []
        now = self.desk.clock.now_ms()
        if self._remote.find(kid, now) is not None:
            return []
        return self._remote.refreshes_for_unknown_kid(now)

    def wait_for_jwks_fetches(self, timeout_s: float | None = None) -> None:
        """Wait for the JWKS-URL fetches under way, at most `timeout_s` (default: the fetch
        deadline)."""
        pending = [k.pending for k in self._remote.active if k.pending is not None]
        futures.wait(pending, timeout=self.jwks_timeout_s if timeout_s is None else timeout_s)

    # -- verifying ------------------------------------------------------------------------------

    def verify(
        self,
        token: str,
        *,
        session_id: str | None = None,
        client_address: str | None = None,
        app_id: str | None = None,
        bind: bool = True,
        origin: str = "widget",
    ) -> VerifiedIdentity:
        """The identity `token` proves, or TokenRejected (recorded in `token_audit`).

        With `app_id` (a widget session's app), the token must be meant for that app: a
        desk-minted token's `aud` names it, and a site key must be bound to it. With
        `bind=False` the caller binds the jti itself (`bind_jti` inside its own transaction,
        then `audit` if that rejects it). `origin` says who presented it (`widget` or `cli`;
        see `audit`).
        """
        try:
            self.sync()
            identity = self._verify(token, app_id)
            if bind and identity.jti is not None and session_id is not None:
                self.bind_jti(identity, session_id)
            return identity
        except TokenRejected as rejection:
            self.audit(rejection, session_id, client_address, app_id=app_id, origin=origin)
            raise

    def _verify(self, token: str, app_id: str | None = None) -> VerifiedIdentity:
        if isinstance(token, bytes):
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError:
                raise reject("malformed", "token is not ASCII") from None
        if not isinstance(token, str):
            raise reject("malformed", "token must be a string")
        if len(token) > MAX_TOKEN_BYTES:
            raise reject("too_large", f"token longer than {MAX_TOKEN_BYTES} bytes")
        if _TOKEN_RE.fullmatch(token) is None:
            raise reject("malformed", "not a compact JWS (three base64url segments)")
        try:
            header = token_header(token[: token.index(".")])
        except jwt.PyJWTError as exc:
            raise reject("malformed", f"bad header ({type(exc).__name__})") from None
        alg = header.get("alg")
        kid = header.get("kid")
        if not isinstance(alg, str):
            raise reject("malformed", "header alg missing or not a string", kid)
        if alg not in SUPPORTED_ALGS:
            raise reject("alg_not_allowed", f"alg {alg[:20]!r} is not accepted", kid)
        if kid is None:
            raise reject("unknown_kid", "token header has no kid")
        now = self.desk.clock.now_ms()
        key = self._find(kid, now)
        if alg != key.alg:
            raise reject(
                "alg_not_allowed", f"key {kid!r} accepts {key.alg} only, not {alg[:20]}", kid
            )
        try:
            signed = JWS.decode_complete(token, key.key(), key.algs)["payload"]
            payload = json.loads(signed.decode("utf-8"))
        except jwt.InvalidSignatureError:
            raise reject("bad_signature", "signature does not verify", kid) from None
        except jwt.InvalidAlgorithmError:
            raise reject("alg_not_allowed", f"key {kid!r} accepts {key.alg} only", kid) from None
        except (jwt.PyJWTError, ValueError, RecursionError) as exc:  # incl. UnicodeDecodeError
            raise reject("malformed", f"cannot decode ({type(exc).__name__})", kid) from None
        if type(payload) is not dict:
            raise reject("malformed", "payload is not a JSON object", kid)
        return self._claims(payload, key, now, app_id)

    def _claims(
        self, payload: dict[str, Any], key: VerifyingKey, now: int, app_id: str | None
    ) -> VerifiedIdentity:
        kid = key.kid
        exp, iat = check_times(payload, kid, now, self.leeway_ms, self.max_lifetime_s)
        if key.issuer is not None:
            check_issuer(payload.get("iss"), key.issuer, kid)
        check_audience(
            payload.get("aud"), site=key.site, audience=key.audience, app_id=app_id, kid=kid
        )
        if key.site and app_id is not None and not self._serves(key, app_id):
            raise reject("bad_audience", f"key {kid!r} is not bound to this app", kid)
        email, phone, name = identity_claims(payload, kid)
        return VerifiedIdentity(
            email=email,
            phone=phone,
            name=name,
            kid=kid,
            source="site" if key.site else "desk",
            expires_at=exp,
            issued_at=iat,
            jti=check_jti(payload, kid),
            scope=key.scope,
        )

    def _serves(self, key: VerifyingKey, app_id: str) -> bool:
        """Whether a site key may trust sessions of `app_id`: the apps it is bound to, or,
        unbound, the desk's only app."""
        if key.apps:
            return app_id in key.apps
        return only_app(self.desk) == app_id

    def is_retired(self, kid: str) -> bool:
        """Whether `kid` (a key, or a member of a JWKS-URL keyset) has been retired."""
        self.sync()
        key = self._keys.get(kid)
        if key is not None:
            return key.status != "active"
        return kid in self._remote.retired

    def bind_jti(self, identity: VerifiedIdentity, session_id: str) -> None:
        """Rule 8: a jti belongs to the first session that presents it (until it expires).

        Each key (or JWKS-URL keyset) has its own jti namespace: one site cannot burn
        another's. Bindings from before scopes existed (`*`) hold for every key.
        """
        now = self.desk.clock.now_ms()
        assert identity.jti is not None
        with self.desk.transaction() as conn:
            uses = jti_uses(conn, identity.scope, identity.jti)
            if any(used_by != session_id and until >= now for _, used_by, until in uses):
                raise reject("replayed", "jti already used in another session", identity.kid)
            if not any(
                scope == identity.scope and used_by == session_id for scope, used_by, _ in uses
            ):
                bind_jti(
                    conn,
                    scope=identity.scope,
                    jti=identity.jti,
                    session_id=session_id,
                    at=now,
                    expires_at=identity.expires_at + self.leeway_ms,
                )
                self._binds += 1
                if self._binds % 1000 == 0:
                    forget_expired_jtis(conn, now)

    def audit(
        self,
        rejection: TokenRejected,
        session_id: str | None,
        client_address: str | None,
        *,
        app_id: str | None = None,
        origin: str = "widget",
    ) -> None:
        """Rule 9: record code, kid, session, time and our own detail; never the token.

        `origin="cli"` marks a check made with `gladdesk verify`: listed by `gladdesk audit`,
        left out of the authentication report and the console's profile pane. The feed row
        names the session's profile and conversation, so a console showing them refreshes.
        """
        if origin not in AUDIT_ORIGINS:
            raise ValueError(f"audit origin must be one of {AUDIT_ORIGINS}, not {origin!r}")
        now = self.desk.clock.now_ms()
        kid = rejection.kid[:MAX_AUDIT_TEXT] if isinstance(rejection.kid, str) else None
        if kid is not None and not kid.isprintable():
            kid = ascii(kid)[:MAX_AUDIT_TEXT]
        with self.desk.transaction() as conn:
            insert_token_audit(
                conn,
                at=now,
                code=rejection.code,
                kid=kid,
                session_id=session_id[:MAX_AUDIT_TEXT] if isinstance(session_id, str) else None,
                client_address=(
                    client_address[:MAX_AUDIT_TEXT] if isinstance(client_address, str) else None
                ),
                detail=rejection.detail[:MAX_AUDIT_TEXT],
                app_id=app_id[:MAX_AUDIT_TEXT] if isinstance(app_id, str) else None,
                origin=origin,
            )
            profile_id, conversation_id = session_subject(
                conn, session_id if isinstance(session_id, str) else None
            )
            self.desk.emit(
                "token.rejected",
                at=now,
                session_id=session_id,
                profile_id=profile_id,
                conversation_id=conversation_id,
            )

    def resolve_app(self, app_id: object) -> str:
        """The app a token or key is for: `app_id` checked, or the desk's only app."""
        apps = app_ids(self.desk)
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


def _kid_of(token: object) -> str | None:
    """The kid a well-formed token names, if any (its header only; nothing is verified)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
        return None
    if _TOKEN_RE.fullmatch(token) is None:
        return None
    try:
        header = token_header(token[: token.index(".")])
    except (jwt.PyJWTError, ValueError, RecursionError):
        return None
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid.isprintable() or header.get("alg") not in SUPPORTED_ALGS:
        return None
    return kid
