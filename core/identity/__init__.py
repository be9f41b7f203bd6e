"""Identity tokens (docs/tokens.md): one verifier for desk-minted and site-signed JWTs.

`Keyring(desk).verify(token, session_id=...)` returns a `VerifiedIdentity` or raises
`TokenRejected` with a stable code from `REJECTION_CODES`; every rejection is written to
`token_audit` (never the token, never a secret). The algorithm is fixed per key, never taken
from the token header. Parsing and signatures are PyJWT's; prepared key objects, parsed
headers and normalized contacts are cached so a verify costs less than a bare `jwt.decode`.

The modules, by subject: `verifier` (checking tokens), `claims` (what a token must claim),
`jws` (PyJWT with prepared keys), `minting` (desk-signed tokens and the desk's own key),
`keys` (adding, retiring, listing keys), `jwks` (JWKS documents), `jwks_fetch` (which JWKS
URLs may be fetched, and a fetch with one deadline), `remote_keysets` (JWKS-URL keysets
refreshed in the background), `material` (key ids, secrets, public keys), `keystore` (the
secrets file), and `desk_keyring` (`Keyring`, all of it as one object). `api_users` (the
admin API's users) and `agent_tokens` (agents' personal access tokens for the agent API) are
imported on their own: `core.identity.api_users`, `core.identity.agent_tokens`.
"""

from core.identity.claims import REJECTION_CODES, TokenRejected, VerifiedIdentity
from core.identity.desk_keyring import Keyring
from core.identity.material import KeyringError
from core.identity.minting import desk_key_demo_only, install_desk_key
from core.identity.verifier import DEFAULT_CHECK_INTERVAL_MS, MAX_TOKEN_BYTES
from core.store.keys import KeyInfo

__all__ = [
    "DEFAULT_CHECK_INTERVAL_MS",
    "MAX_TOKEN_BYTES",
    "REJECTION_CODES",
    "KeyInfo",
    "Keyring",
    "KeyringError",
    "TokenRejected",
    "VerifiedIdentity",
    "desk_key_demo_only",
    "install_desk_key",
]
