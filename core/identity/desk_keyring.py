"""`Keyring`: the desk's keys as one object, the one the engine, the web API and the CLI hold.

It verifies tokens (`core.identity.verifier`), mints desk tokens (`core.identity.minting`)
and adds, retires and lists keys (`core.identity.keys`), over one in-memory copy of the
keys that every part keeps current.
"""

from __future__ import annotations

from core.identity.keys import KeyAdministration
from core.identity.minting import DeskMinting


class Keyring(KeyAdministration, DeskMinting):
    """The desk's verifier, minter and key store. Thread-safe; one per desk per process is
    enough. `Keyring(desk, check_interval_ms=0)` notices other processes' key changes on
    every verify (see `Verifier`)."""
