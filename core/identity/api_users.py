"""API users of the admin REST API: an email plus a random token, stored only as a hash.

Tokens are 256-bit random strings, so a plain SHA-256 is enough to store them (no password
stretching needed); comparison is constant-time.
"""

from __future__ import annotations

import hmac
import secrets

from core.contacts import normalize_email
from core.engine.text import hash_token
from core.errors import Conflict
from core.store import Desk
from core.store.api_users import api_user_exists, api_user_token_hash, insert_api_user

TOKEN_PREFIX = "gdk_"
#: Longest token accepted for checking; anything longer is refused before hashing.
MAX_TOKEN_CHARS = 200


def add_api_user(desk: Desk, email: object) -> str:
    """Create an API user and return their token: shown once, stored hashed."""
    address = normalize_email(email)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with desk.transaction() as conn:
        if api_user_exists(conn, address):
            raise Conflict(f"API user {address} already exists")
        insert_api_user(conn, address, hash_token(token), desk.clock.now_ms())
        desk.emit("api_user.added")
    return token


def check_api_user(desk: Desk, email: str, token: str) -> bool:
    """True when `token` is the API token of `email` (case-insensitive email)."""
    if not email or not token or len(token) > MAX_TOKEN_CHARS or len(email) > 320:
        return False
    stored = api_user_token_hash(desk, email.strip().lower())
    expected = stored if stored is not None else hash_token(TOKEN_PREFIX + "no-such-user")
    matches = hmac.compare_digest(expected, hash_token(token))
    return stored is not None and matches
