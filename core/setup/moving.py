"""Moving a desk between backends (`gladdesk db copy --from SRC --to DST`): its database, its
keystore and its rules file, then proof that the copy answers as the original does.

The target must be new: a missing file, or a PostgreSQL database without a desk in it.
Anything that fails leaves the target as it was (a new file is removed; the database's one
transaction rolls back) and the source unchanged. The proof: the conversation export, the
config export and the signing keys of both desks are compared, and every agent's load.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import DeskError
from core.store import Desk
from core.store.copy import TargetNotEmpty, agent_loads, copy_rows
from core.store.desk import is_postgres_url


class CopyMismatch(DeskError):
    code = "copy_mismatch"


@dataclass(frozen=True, slots=True)
class Copied:
    source: str
    target: str
    rows: dict[str, int]
    files: list[str]


def _fingerprint(desk: Desk) -> dict[str, str]:
    """What must read the same on both desks, each part as JSON text."""
    from core.engine import Engine, NoRules
    from core.setup.admin import DeskAdmin
    from core.store import keys as key_store

    loads = agent_loads(desk)
    return {
        "conversations": json.dumps(Engine(desk, rules=NoRules()).export_conversations()),
        "config": json.dumps(DeskAdmin(desk).config(), default=str, sort_keys=True),
        "keys": json.dumps([tuple(r) for r in key_store.key_rows(desk)], default=str),
        "agent load": json.dumps(loads),
    }


def _copy_file(source: Path, target: Path) -> bool:
    if not source.exists():
        return False
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out, source.open("rb") as data:
        shutil.copyfileobj(data, out)
    return True


def copy_desk(source_at: str | Path, target_at: str | Path) -> Copied:
    """Copy the desk at `source_at` into the new desk `target_at` (file or URL)."""
    from core.rules import rules_path_for

    if str(source_at) == str(target_at):
        raise DeskError("--from and --to name the same desk")
    new_file = not is_postgres_url(target_at) and not Path(target_at).exists()
    if not is_postgres_url(target_at) and not new_file:
        raise TargetNotEmpty(f"{target_at}: already exists; copy into a new file only")
    source = Desk.open(source_at, create=False)
    target: Desk | None = None
    try:
        target = Desk.open(target_at, clock=source.clock, create=True)
        rows = copy_rows(source, target)
        files = []
        if _copy_file(source.keystore_path, target.keystore_path):
            files.append(str(target.keystore_path))
        if _copy_file(rules_path_for(source), rules_path_for(target)):
            files.append(str(rules_path_for(target)))
        before, after = _fingerprint(source), _fingerprint(target)
        differ = [part for part in before if before[part] != after[part]]
        if differ:
            raise CopyMismatch(f"the copy differs from {source.shown} in: {', '.join(differ)}")
        return Copied(source.shown, target.shown, rows, files)
    except BaseException:
        if target is not None and new_file:
            target.close()
            target = None
            for suffix in ("", "-wal", "-shm", ".keys"):
                Path(f"{target_at}{suffix}").unlink(missing_ok=True)
        raise
    finally:
        source.close()
        if target is not None:
            target.close()
