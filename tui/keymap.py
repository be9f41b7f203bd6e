"""Key remapping from a TOML file, applied with `App.set_keymap`.

```toml
# ~/.config/gladdesk/keys.toml
[keys]
"conversation.login_prompt" = "ctrl+l"
"queue.view" = "tab,v"
```

Every binding in tui/bindings.py can be remapped, by its id. A bad file is a clear error before the console
starts, naming the file, the entry and the fix.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from core.errors import DeskError
from tui.bindings import default_keys

#: A key list as Textual spells it: `ctrl+l`, `f1`, `question_mark`, `?`, comma-separated.
_KEYS_RE = re.compile(r"[A-Za-z0-9_+\-?/!@#$%^&*()=<>.,:;'\"`~|\\\[\]{}]{1,64}")


class KeymapError(DeskError):
    code = "bad_keymap"


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gladdesk" / "keys.toml"


def load_keymap(path: Path | None) -> dict[str, str]:
    """The keymap in `path`; None reads the default file if there is one."""
    explicit = path is not None
    path = Path(path) if path is not None else default_config_path()
    if not path.exists():
        if explicit:
            raise KeymapError(f"{path}: no such key config file")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise KeymapError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise KeymapError(f"{path}: not valid TOML: {exc}") from None
    return parse_keymap(data, source=str(path))


def parse_keymap(data: object, *, source: str = "keys.toml") -> dict[str, str]:
    """Validate a parsed config: `[keys]` maps known binding ids to key lists."""
    if not isinstance(data, dict):
        raise KeymapError(f"{source}: expected a table")
    unknown_tables = sorted(set(data) - {"keys"})
    if unknown_tables:
        raise KeymapError(f"{source}: unknown section {unknown_tables[0]!r}; use [keys]")
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        raise KeymapError(f'{source}: [keys] must be a table of binding id = "keys"')
    known = default_keys()
    keymap: dict[str, str] = {}
    for binding_id, value in keys.items():
        if binding_id not in known:
            raise KeymapError(
                f"{source}: unknown binding id {binding_id!r} (known: {', '.join(sorted(known))})"
            )
        if not isinstance(value, str) or not _KEYS_RE.fullmatch(value):
            raise KeymapError(
                f'{source}: {binding_id} = {value!r} is not a key list like "ctrl+l" or "f2,x"'
            )
        if any(not part for part in value.split(",")) and value != ",":
            raise KeymapError(f"{source}: {binding_id} = {value!r} has an empty key")
        keymap[binding_id] = value
    return keymap
