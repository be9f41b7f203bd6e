"""`Keyring`: the desk's keys as one object, the one the engine, the web API and the CLI hold.

It is a facade over three parts, each given its collaborators when it is built:

    Verifier (checks tokens; holds the keys in memory and its lock)
      ├─ DeskMinting (desk-signed tokens; drops its signing key when the verifier re-reads)
      └─ KeyAdministration (adds, retires and lists keys; the verifier re-reads at once)

`core.identity.verifier`, `core.identity.minting` and `core.identity.keys` hold them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.identity.jwks_fetch import DEFAULT_JWKS_TIMEOUT_S
from core.identity.keys import KeyAdministration
from core.identity.minting import DeskMinting
from core.identity.verifier import (
    DEFAULT_CHECK_INTERVAL_MS,
    DEFAULT_LEEWAY_S,
    DEFAULT_MAX_LIFETIME_S,
    Verifier,
)
from core.store import Desk

if TYPE_CHECKING:  # httpx imports rich when it is installed; core must not (loaded lazily)
    import httpx


class Keyring:
    """The desk's verifier, minter and key store. Thread-safe; one per desk per process is
    enough. `Keyring(desk, check_interval_ms=0)` notices other processes' key changes on
    every verify (see `Verifier`)."""

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
        self.verifier = verifier = Verifier(
            desk,
            http_client=http_client,
            leeway_s=leeway_s,
            max_lifetime_s=max_lifetime_s,
            check_interval_ms=check_interval_ms,
            jwks_timeout_s=jwks_timeout_s,
            wait_for_jwks=wait_for_jwks,
        )
        self.minting = minting = DeskMinting(desk, verifier)
        self.keys = keys = KeyAdministration(desk, verifier)
        # verifying
        self.verify = verifier.verify
        self.audit = verifier.audit
        self.bind_jti = verifier.bind_jti
        self.is_retired = verifier.is_retired
        self.resolve_app = verifier.resolve_app
        self.jwks_fetches_for = verifier.jwks_fetches_for
        self.wait_for_jwks_fetches = verifier.wait_for_jwks_fetches
        self.reload = verifier.reload
        self.close = verifier.close
        # minting
        self.mint = minting.mint
        self.desk_signing_kid = minting.signing_kid
        # key administration
        self.add_key = keys.add_key
        self.retire = keys.retire
        self.list_keys = keys.list_keys

    @property
    def jwks_timeout_s(self) -> float:
        """How long a JWKS-URL fetch may take (the web server waits for fetches this long)."""
        return self.verifier.jwks_timeout_s
