"""Moving a desk between backends (`gladdesk db copy --from SRC --to DST`): its database, its
keystore and its rules file, with proof that the copy holds what the original does.

The target must be new: a missing file, or a PostgreSQL database without a desk in it. The
source is opened as every command opens it (an older desk is migrated first; one from a newer
gladdesk is refused) and read in one snapshot, so a desk in use copies as it was at one
instant. Before the target's one transaction commits, both desks are compared: every table's
rows (count and digest over every copied column), the config export, the signing keys and
every agent's load (counted by the target's own trigger). Anything that fails or differs
leaves the target as it was (the transaction rolls back; a new file is removed, as are the
keystore and rules files written for it) and the source unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import DeskError
from core.store import Desk
from core.store.copy import TargetNotEmpty, agent_loads, copied_columns, copy_rows, digests
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
    """What must read the same on both desks besides their rows, each part as JSON text."""
    from core.setup.admin import DeskAdmin
    from core.store import keys as key_store

    return {
        "config": json.dumps(DeskAdmin(desk).config(), default=str, sort_keys=True),
        "keys": json.dumps([tuple(r) for r in key_store.key_rows(desk)], default=str),
        "agent loads": json.dumps(agent_loads(desk)),
    }


def _compare(source: Desk, target: Desk, tables: dict[str, list[str]]) -> None:
    """Raise CopyMismatch naming what differs between the two desks."""
    before, after = digests(source, tables), digests(target, tables)
    differ = [f"table {t}" for t in tables if before[t] != after[t]]
    facts, copied = _fingerprint(source), _fingerprint(target)
    differ += [part for part in facts if facts[part] != copied[part]]
    if differ:
        raise CopyMismatch(f"the copy differs from {source.shown} in: {', '.join(differ)}")


def _copy_file(source: Path, target: Path) -> bool:
    """Copy `source` to `target` (mode 0600, its folder made 0700); False when there is no
    `source`."""
    if not source.exists() or (target.exists() and target.samefile(source)):
        return False
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an older file there keeps its mode otherwise
    with os.fdopen(descriptor, "wb") as out, source.open("rb") as data:
        shutil.copyfileobj(data, out)
    return True


def _check_locations(source_at: str | Path, target_at: str | Path) -> bool:
    """Refuse a copy onto itself or onto an existing file; True when the target is a file."""
    if str(source_at) == str(target_at):
        raise DeskError("--from and --to name the same desk")
    if is_postgres_url(target_at):
        return False
    if Path(target_at).exists():
        raise TargetNotEmpty(f"{target_at}: already exists; copy into a new file only")
    return True


def _remove_new_file(target_at: str | Path) -> None:
    for suffix in ("", "-wal", "-shm", ".keys", ".rules.toml"):
        Path(f"{target_at}{suffix}").unlink(missing_ok=True)


def copy_desk(source_at: str | Path, target_at: str | Path) -> Copied:
    """Copy the desk at `source_at` into the new desk `target_at` (file or URL)."""
    from core.rules import rules_path_for

    new_file = _check_locations(source_at, target_at)
    source = Desk.open(source_at, create=False)
    target: Desk | None = None
    written: list[Path] = []
    try:
        target = Desk.open(target_at, clock=source.clock, create=True)
        tables = copied_columns(source, target)

        def check_then_write_files() -> None:
            assert target is not None
            _compare(source, target, tables)
            # the rules file where the copied settings put it (`rules_path`)
            sidecars = [
                (source.keystore_path, target.keystore_path),
                (rules_path_for(source), rules_path_for(target)),
            ]
            written.extend(dst for src, dst in sidecars if _copy_file(src, dst))

        with source.reading():
            rows = copy_rows(source, target, tables, check_then_write_files)
        return Copied(source.shown, target.shown, rows, [str(p) for p in written])
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if target is not None and new_file:
            target.close()
            target = None
            _remove_new_file(target_at)
        raise
    finally:
        source.close()
        if target is not None:
            target.close()
