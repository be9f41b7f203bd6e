"""Waiting for a site's keys without blocking anyone: the JWKS fetches an identity token needs.

A token whose kid no key holds starts a fetch of the desk's JWKS-URL keysets (one at a time
per keyset, at most once a minute; `core.identity.remote_keysets`). The request awaits that
fetch here, on the event loop, holding neither a worker thread nor a lock, for at most the
fetch deadline; the engine then verifies with the keys in memory, never waiting on the
network itself (the server's keyring is made with `wait_for_jwks=False`).
"""

from __future__ import annotations

import asyncio

from core.web.state import WebState


async def await_jwks_fetches(state: WebState, token: object) -> None:
    """Wait for the JWKS-URL fetches verifying `token` needs (none for a known kid)."""
    keyring = state.engine.keyring
    pending = await state.call(keyring.jwks_fetches_for, token)
    if pending:
        waiting = [asyncio.wrap_future(future) for future in pending]
        await asyncio.wait(waiting, timeout=keyring.jwks_timeout_s)
