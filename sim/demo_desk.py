"""Build the demo desk (`demo.db`) from `fixtures/`, byte-for-byte reproducibly.

Beside it go its keystore (`demo.db.keys`, the demo-only signing key) and its rules
(`demo.db.rules.toml`, from `fixtures/rules.toml`). The same desk can be built into an empty
PostgreSQL desk (a `postgresql://` URL): its keystore and rules then go beside the database's
local sidecar path (`PgDesk.path`).

Every time and id comes from the fixtures: the desk clock is frozen at `[clock] built_at`.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.clock import ManualClock, parse_iso
from core.contacts import normalize_email, normalize_name, normalize_phone
from core.errors import DeskError, FileLineError, NoDesk
from core.setup import ConfigError, ConfigFile, apply_config, read_config
from core.setup.config import DEMO_ONLY
from core.store import Desk, directory, queue_key, seed
from core.store.desk import is_postgres_url
from sim.project_files import DEMO_DB, FIXTURES

#: Files a desk keeps beside its database: the keystore and the rules.
SIDECARS = (".keys", ".rules.toml")


class FixtureError(DeskError):
    code = "bad_fixture"


def _load(fixtures: Path) -> tuple[ConfigFile, list[dict], list[dict]]:
    try:
        desk = read_config(fixtures / "desk.toml", extra_sections=DEMO_ONLY)
    except ConfigError as exc:
        raise FixtureError(str(exc)) from None
    loaded: list[list[dict]] = []
    for name in ("customers.json", "conversations.json"):
        path = fixtures / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FixtureError(f"{path}: not found") from None
        except json.JSONDecodeError as exc:
            raise FixtureError(f"{path}: line {exc.lineno}: {exc.msg}") from None
        if not isinstance(data, list):
            raise FixtureError(f"{path}: expected a JSON array")
        loaded.append(data)
    return desk, loaded[0], loaded[1]


def build_demo(out: Path = DEMO_DB, fixtures: Path = FIXTURES) -> Path:
    """Write the demo desk to `out` (and its keystore beside it); returns `out`.

    Built in a temporary file and moved into place, so a failed build leaves `out` untouched.
    """
    config, customers, conversations, rules = _load_checked(fixtures)
    out = Path(out)
    temp = out.with_name(f".{out.name}.building")
    for stale in (temp, Path(f"{temp}.keys"), Path(f"{temp}-wal"), Path(f"{temp}-shm")):
        stale.unlink(missing_ok=True)
    try:
        built_at = parse_iso(config.extras["clock"]["built_at"])
        desk = Desk.open(temp, clock=ManualClock(built_at))
        try:
            _fill(desk, config, customers, conversations, fixtures, built_at)
            desk.compact()
        finally:
            desk.close()
    except (KeyError, TypeError, ValueError) as exc:
        for stale in (temp, Path(f"{temp}.keys")):
            stale.unlink(missing_ok=True)
        raise FixtureError(f"{fixtures}: invalid fixture data: {exc!r}") from None
    except BaseException:
        for stale in (temp, Path(f"{temp}.keys")):
            stale.unlink(missing_ok=True)
        raise
    os.replace(temp, out)
    keys = Path(f"{temp}.keys")
    if keys.exists():
        os.replace(keys, Path(f"{out}.keys"))
    if rules.exists():
        shutil.copyfile(rules, f"{out}.rules.toml")
    return out


def _load_checked(fixtures: Path) -> tuple[ConfigFile, list[dict], list[dict], Path]:
    """The fixtures, and the rules file (checked: broken rules fail the build before anything
    is written)."""
    config, customers, conversations = _load(fixtures)
    rules = fixtures / "rules.toml"
    if rules.exists():
        from core.rules import load_rules

        load_rules(rules, inboxes=frozenset(config.config.inboxes))
    return config, customers, conversations, rules


def build_demo_into(url: str, fixtures: Path = FIXTURES) -> str:
    """Write the demo desk into the empty desk at PostgreSQL `url` (same rows, ids and times as
    `demo.db`); its keystore and rules go beside `PgDesk.path`. Returns `url`.

    One transaction: a failed build leaves the database as it was (the keystore and rules are
    written after it commits)."""
    if not is_postgres_url(url):
        raise FixtureError(f"{url}: not a postgresql:// URL")
    config, customers, conversations, rules = _load_checked(fixtures)
    built_at = parse_iso(config.extras["clock"]["built_at"])
    with Desk.open(url, clock=ManualClock(built_at)) as desk:
        if desk.last_event_id() or directory.inboxes(desk):
            raise FixtureError(f"{desk.shown}: not an empty desk; build the demo into a new one")
        try:
            _fill(desk, config, customers, conversations, fixtures, built_at)
        except (KeyError, TypeError, ValueError) as exc:
            raise FixtureError(f"{fixtures}: invalid fixture data: {exc!r}") from None
        desk.sync_sequences()
        if rules.exists():
            shutil.copyfile(rules, f"{desk.path}.rules.toml")
    return url


def build_demo_if_new(url: str, fixtures: Path = FIXTURES) -> bool:
    """Build the demo desk into the PostgreSQL database `url` if it holds nothing yet (no
    table at all); True when it did. A desk there is left as it is; a database holding other
    tables is refused (StoreError)."""
    try:
        Desk.open(url, create=False).close()
    except NoDesk:
        build_demo_into(url, fixtures)
        return True
    return False


def _fill(
    desk: Desk,
    config: ConfigFile,
    customers: list[dict],
    conversations: list[dict],
    fixtures: Path,
    built_at: int,
) -> None:
    with desk.transaction():
        # The apps, inboxes and agents as `gladdesk config apply` makes them.
        try:
            apply_config(desk, config)
        except FileLineError as exc:
            raise FixtureError(str(exc)) from None
        except DeskError as exc:
            raise FixtureError(f"{config.path}: {exc}") from None
        inbox_ids = {name: inbox_id for inbox_id, name in directory.inboxes(desk)}
        agent_ids = {agent.handle: agent.id for agent in directory.agents(desk)}
        for person in customers:
            seed.add_profile(
                desk,
                int(person["id"]),
                normalize_name(person["name"]) or "",
                parse_iso(person["created_at"]),
                emails=[normalize_email(email) for email in person.get("emails", [])],
                phones=[normalize_phone(phone) for phone in person.get("phones", [])],
            )
        windows = {app.app_id: app.trust_window_s * 1000 for app in config.config.apps}
        for conversation in conversations:
            app_id = conversation.get("app", "retale")
            if app_id not in windows:
                raise ValueError(f"conversation {conversation['id']}: unknown app {app_id!r}")
            _insert_conversation(
                desk, conversation, inbox_ids, agent_ids, window_ms=windows[app_id], now=built_at
            )
        desk.emit("desk.built", at=built_at)
    key = config.extras.get("signing_key")
    if key:
        from core.identity import install_desk_key

        pem = (fixtures / key["private_key_file"]).read_bytes()
        install_desk_key(desk, pem, kid=key["kid"], demo_only=True, at_ms=built_at)


def _insert_conversation(
    desk: Desk,
    conversation: dict,
    inbox_ids: dict[str, int],
    agent_ids: dict[str, int],
    *,
    window_ms: int,
    now: int,
) -> None:
    """One fixture conversation. Trust follows the desk's rules: a customer message is
    trusted only inside the trust window after an `authenticated` event (a fixture that says
    otherwise is refused), and an open chat whose window ended by `now` is no longer TRUSTED.
    """
    status = conversation["status"]
    if status not in ("OPEN", "WAITING", "CLOSED"):
        raise ValueError(f"conversation {conversation['id']}: unknown status {status!r}")
    history = _walk_items(conversation, agent_ids, window_ms, first_id=seed.next_item_id(desk))
    created_at, updated_at = history.times[0], history.times[-1]
    waiting_since = None if status == "CLOSED" else history.waiting_since
    last_customer = history.last_customer
    source = conversation["identity_source"]
    # An open chat's trust is as of the build; a closed one keeps what it had when it closed.
    as_of = now if status != "CLOSED" else updated_at
    trusted_until = history.trusted_until
    trusted_now = source == "jwt" and trusted_until is not None and trusted_until > as_of
    seed.add_conversation(
        desk,
        {
            "id": conversation["id"],
            "profile_id": conversation["customer"],
            "app_id": conversation.get("app", "retale"),
            "inbox_id": inbox_ids[conversation["inbox"]],
            "assignee_id": agent_ids[conversation["assignee"]],
            "status": status,
            "created_at": created_at,
            "updated_at": updated_at,
            "routed_at": created_at,
            "closed_at": updated_at if status == "CLOSED" else None,
            "waiting_since": waiting_since,
            "queue_key": queue_key(waiting_since, updated_at),
            "identity_state": "TRUSTED" if trusted_now else "CLAIMED",
            "identity_source": source,
            "authenticated_at": history.authenticated_at,
            "trust_path": conversation["trust_path"],
            "last_customer_item_id": last_customer[0] if last_customer else None,
            "last_customer_trusted": int(last_customer[1]) if last_customer else None,
            "last_preview": last_customer[2][:200] if last_customer else "",
            "item_count": len(history.rows),
            "trusted_until": trusted_until if trusted_now else None,
        },
    )
    seed.add_items(desk, history.rows)


@dataclass(slots=True)
class _History:
    """What a fixture conversation's items add up to, read in order."""

    times: list[int]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    waiting_since: int | None = None
    last_customer: tuple[int, bool, str] | None = None  # (item id, trusted, body)
    authenticated_at: int | None = None
    trusted_until: int | None = None


def _walk_items(
    conversation: dict, agent_ids: dict[str, int], window_ms: int, *, first_id: int
) -> _History:
    """The item rows of a fixture conversation (ids from `first_id`) and the state they leave:
    who waits since when, the last customer message, the trust window."""
    items = conversation["items"]
    history = _History(times=[parse_iso(item["at"]) for item in items])
    for offset, (item, moment) in enumerate(zip(items, history.times, strict=True)):
        item_id = first_id + offset
        is_customer = item["type"] == "message" and item["sender"] == "customer"
        trusted = int(bool(item.get("trusted"))) if is_customer else None
        if item.get("event") == "authenticated":
            history.trusted_until = moment + window_ms
        elif item.get("event") in ("trust_expired", "trust_revoked", "identity_cleared"):
            history.trusted_until = None
        if trusted and (history.trusted_until is None or moment >= history.trusted_until):
            raise ValueError(
                f"conversation {conversation['id']}: the customer message at {item['at']} is"
                " marked trusted outside a trust window (no authenticated event in the"
                f" {window_ms // 60000} minutes before it)"
            )
        if is_customer:
            history.last_customer = (item_id, bool(trusted), item["body"])
            if history.waiting_since is None:
                history.waiting_since = moment
        elif item["type"] == "message":
            history.waiting_since = None
        if item.get("event") == "authenticated" and history.authenticated_at is None:
            history.authenticated_at = moment
        history.rows.append(
            (
                item_id,
                conversation["id"],
                item["type"],
                item["sender"],
                item.get("event"),
                item["body"],
                moment,
                trusted,
                agent_ids[conversation["assignee"]] if item["sender"] == "agent" else None,
            )
        )
    return history
