"""The keystore: the file beside the database that holds what never enters it.

Secrets never enter the database (docs/tokens.md, rule 9): HS256 secrets and the desk's
private key live in the keystore file (`Desk.keystore_path`, JSON, mode 0600, replaced
atomically).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.identity.material import KeyringError

_KEYSTORE_FORMAT = "gladdesk-keystore"


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
