"""Agents' personal access tokens for the agent API: random strings stored only as a hash.

Made and checked like API users' tokens (`core.identity.api_users`): 256 bits from `secrets`,
a plain SHA-256 to store them, a constant-time comparison. A request's token is looked up
by its hash on every request, so a token revoked (`gladdesk agents disable`) or replaced
(`gladdesk agents token --rotate`) is refused from the next request on.
"""

from __future__ import annotations

import hmac
import secrets

from core.engine.text import hash_token
from core.store import Desk
from core.store.agent_accounts import AgentAccount, account_by_token_hash

#: Agent tokens start with this, so that a leaked one is recognisable (and told apart from an
#: API user's `gdk_` token).
AGENT_TOKEN_PREFIX = "gda_"
#: Longest token looked at; anything longer is refused before hashing.
MAX_AGENT_TOKEN_CHARS = 200


def new_agent_token() -> tuple[str, str]:
    """(token, the hash to store): the token is shown once and never stored."""
    token = AGENT_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token)


def _plausible(token: object) -> bool:
    return (
        isinstance(token, str)
        and token.startswith(AGENT_TOKEN_PREFIX)
        and len(token) <= MAX_AGENT_TOKEN_CHARS
    )


def agent_for_token(desk: Desk, token: object) -> AgentAccount | None:
    """The enabled agent whose token `token` is, read from the desk now; None for anything
    else (no such token, a revoked or replaced one, a disabled agent, not a token at all)."""
    if not _plausible(token):
        return None
    assert isinstance(token, str)
    digest = hash_token(token)
    account = account_by_token_hash(desk, digest)
    if account is None:
        return None
    if not hmac.compare_digest(account.token_hash, digest) or account.disabled:
        return None
    return account


def agent_still_signed_in(desk: Desk, account: AgentAccount) -> AgentAccount | None:
    """The agent as they are now, while the token that opened `account` is still theirs and
    they are enabled; None once it was revoked or replaced (an open event stream asks this
    on every change-feed batch)."""
    current = account_by_token_hash(desk, account.token_hash)
    if current is None or current.disabled or current.id != account.id:
        return None
    return current if hmac.compare_digest(current.token_hash, account.token_hash) else None
