"""`init_desk`: a new desk, ready to serve: a default app and inbox (or those of a config
file) and the desk's own signing key."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from core.clock import Clock
from core.errors import Conflict
from core.setup.admin import DeskAdmin
from core.setup.config import ConfigFile, apply_config
from core.store import Desk
from core.store import setup as store
from core.store.desk import is_postgres_url

DEFAULT_APP_ID = "site"
DEFAULT_STORE_NAME = "Support"
DEFAULT_INBOX = "Chat"


class AlreadySetUp(Conflict):
    """The desk file already holds apps, agents, inboxes or customers (`held` says what)."""

    def __init__(self, path: Path | str, held: str) -> None:
        self.held = held
        self.shown = str(path)
        super().__init__(
            f"{path} already holds a desk ({held}); nothing changed. Change it with"
            " gladdesk apps / agents / inboxes or gladdesk config apply FILE, or pick a new"
            " --db path"
        )


@dataclass(frozen=True, slots=True)
class NewDesk:
    path: Path | str
    #: The desk as messages name it (a database URL without its password).
    shown: str
    keystore: Path
    apps: tuple[str, ...]
    inboxes: tuple[str, ...]
    default_inbox: str | None
    agents: tuple[str, ...]
    signing_kid: str


def init_desk(
    path: str | Path,
    *,
    app_id: str = DEFAULT_APP_ID,
    store_name: str = DEFAULT_STORE_NAME,
    config: ConfigFile | None = None,
    clock: Clock | None = None,
) -> NewDesk:
    """Set up the desk at `path`: created (mode 0600) when missing; an existing file must be
    a desk with nothing in it yet (else `AlreadySetUp`, and nothing changes). Its apps,
    inboxes and agents come from `config`, or are one app (`app_id`, `store_name`) and the
    inbox `Chat`. A new file that fails half-way is removed."""
    in_database = is_postgres_url(path)
    if not in_database:
        path = Path(path)
    # a database is never removed on failure: its migrations are one transaction each
    existed = in_database or Path(path).exists()
    desk = Desk.open(path, clock=clock, create=True)
    shown, keystore = desk.shown, desk.keystore_path
    try:
        try:
            admin = DeskAdmin(desk)
            with desk.transaction() as conn:
                if not store.is_blank(conn):
                    raise AlreadySetUp(shown, _held(admin))
                if config is not None:
                    apply_config(desk, config)
                else:
                    admin.add_inbox(DEFAULT_INBOX)
                    admin.add_app({"app_id": app_id, "store_name": store_name})
            from core.identity import Keyring  # PyJWT and cryptography, only now

            kid = Keyring(desk).desk_signing_kid()
            made = admin.config()
        finally:
            desk.close()
    except BaseException:
        if not existed:
            for suffix in ("", "-wal", "-shm", ".keys"):
                with contextlib.suppress(OSError):
                    Path(f"{path}{suffix}").unlink()
        raise
    return NewDesk(
        path=path,
        shown=shown,
        keystore=keystore,
        apps=tuple(app.app_id for app in made.apps),
        inboxes=made.inboxes,
        default_inbox=made.default_inbox,
        agents=tuple(agent.handle for agent in made.agents),
        signing_kid=kid,
    )


def _held(admin: DeskAdmin) -> str:
    config = admin.config()
    parts = [
        f"{len(items)} {noun if len(items) == 1 else plural}"
        for noun, plural, items in (
            ("app", "apps", config.apps),
            ("inbox", "inboxes", config.inboxes),
            ("agent", "agents", config.agents),
        )
        if items
    ]
    return ", ".join(parts) or "customers and conversations"
