"""`gladdesk apps`, `gladdesk agents`, `gladdesk inboxes`: a desk's configuration, one item at
a time (docs/config.md). A running server and consoles see each change within a poll of the
change feed; nothing needs a restart."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from cli.common import open_desk
from cli.tables import echo_table
from core.budgets import BUDGET_DEFAULTS

#: Command option -> app setting, for the text and number options of `apps add` and `set`.
_APP_TEXT_OPTIONS = (
    ("--store-name", "store_name", "The store's name, shown in the widget's header."),
    ("--login-url", "login_url", "The site's login page (http:// or https://)."),
    ("--signup-url", "signup_url", "The site's sign-up page (http:// or https://)."),
    (
        "--first-message",
        "first_message",
        "The welcome text; may use {login_url}, {signup_url}, {first_name}, {store_name}.",
    ),
    (
        "--greeting-new",
        "greeting_new",
        "The greeting of an identified customer new to the desk; {first_name}, {store_name}.",
    ),
    (
        "--greeting-returning",
        "greeting_returning",
        "The greeting of a verified customer who chatted before; {first_name}, {store_name}.",
    ),
)


#: Settings whose command option is not `--` and the setting's name with dashes.
_OPTION_NAMES = {
    "app_id": "ID",
    "handle": "HANDLE",
    "allowed_origins": "--origin",
    "trust_window_s": "--trust-window",
    "inboxes": "--inbox",
}


@contextmanager
def _named_as_options() -> Iterator[None]:
    """A bad setting's error names the command option that set it (`--login-url`)."""
    from core.setup import SettingError

    try:
        yield
    except SettingError as exc:
        option = _OPTION_NAMES.get(exc.key, "--" + exc.key.replace("_", "-"))
        raise SettingError(option, exc.reason) from None


def _show(
    items: Sequence[Any],
    *,
    as_json: bool,
    empty: str,
    header: tuple[str, ...],
    row: Callable[[Any], tuple[object, ...]],
) -> None:
    """A listing: JSON (each item's `as_dict()`), a table, or how to add the first one."""
    if as_json:
        click.echo(json.dumps([item.as_dict() for item in items], ensure_ascii=False, indent=2))
    elif not items:
        click.echo(empty)
    else:
        echo_table(header, [row(item) for item in items])


def _changed(what: str, changed: list[str]) -> None:
    if changed:
        click.echo(f"{what}: changed {', '.join(changed)}")
    else:
        click.echo(f"{what}: already so; nothing changed")


def _app_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The settings options `apps add` and `apps set` share."""
    for name, setting in reversed([(f"--{n.replace('_', '-')}", n) for n in BUDGET_DEFAULTS]):
        command = click.option(
            name, setting, type=int, default=None, help=f"Flood budget {setting} (0: no limit)."
        )(command)
    command = click.option(
        "--trust-window",
        "trust_window_s",
        type=int,
        default=None,
        metavar="SECONDS",
        help="How long a verified token keeps the session trusted (60 to 86400).",
    )(command)
    command = click.option(
        "--origin",
        "origins",
        multiple=True,
        metavar="URL",
        help="A site the widget may run on, like https://shop.example (repeat for several;"
        " replaces the list).",
    )(command)
    command = click.option(
        "--onboarding",
        type=click.Choice(["email", "phone", "off"]),
        default=None,
        help="What the onboarding form asks besides the name, or off (no form).",
    )(command)
    for option, setting, help_text in reversed(_APP_TEXT_OPTIONS):
        command = click.option(option, setting, default=None, help=help_text)(command)
    return command


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The app settings among a command's options that were given."""
    settings = {key: value for key, value in options.items() if value is not None}
    origins = settings.pop("origins", ())
    if origins:
        settings["allowed_origins"] = list(origins)
    return settings


# -- apps -------------------------------------------------------------------------------------


@click.group("apps")
def apps_group() -> None:
    """Apps: the widget installations of the desk (one per site)."""


@apps_group.command("add")
@click.argument("app_id", metavar="ID")
@_app_options
@click.pass_context
def apps_add(ctx: click.Context, app_id: str, **options: Any) -> None:
    """Add app ID (the id the widget's init passes, and desk tokens' audience)."""
    from core.setup import DeskAdmin

    settings = _given(options)
    if "store_name" not in settings:
        raise click.UsageError("--store-name NAME is required")
    with _named_as_options(), open_desk(ctx) as desk:
        app, notes = DeskAdmin(desk).add_app({"app_id": app_id, **settings})
    click.echo(f"added app {app.app_id!r} ({app.store_name})")
    if not app.allowed_origins:
        notes.append(
            "no --origin yet: the widget runs only on the server's own pages until you add"
            f" your site: gladdesk apps set {app.app_id} --origin https://your.site"
        )
    if not app.login_url:
        notes.append(
            "no --login-url yet: the login prompt cannot link to your login page:"
            f" gladdesk apps set {app.app_id} --login-url https://your.site/login"
        )
    for note in notes:
        click.echo(f"note: {note}")


@apps_group.command("set")
@click.argument("app_id", metavar="ID")
@_app_options
@click.option("--no-origins", is_flag=True, help="Clear the list of allowed origins.")
@click.pass_context
def apps_set(ctx: click.Context, app_id: str, no_origins: bool, **options: Any) -> None:
    """Change app ID: only the settings given change."""
    from core.setup import DeskAdmin

    settings = _given(options)
    if no_origins:
        if "allowed_origins" in settings:
            raise click.UsageError("give --origin or --no-origins, not both")
        settings["allowed_origins"] = []
    if not settings:
        raise click.UsageError("nothing to change: give at least one setting (see --help)")
    with _named_as_options(), open_desk(ctx) as desk:
        _app, changed = DeskAdmin(desk).set_app(app_id, settings)
    _changed(f"app {app_id!r}", changed)


@apps_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every setting) instead.")
@click.pass_context
def apps_list(ctx: click.Context, as_json: bool) -> None:
    """List the apps."""
    from core.setup import DeskAdmin

    with _named_as_options(), open_desk(ctx) as desk:
        apps = DeskAdmin(desk).apps()
    _show(
        apps,
        as_json=as_json,
        empty="no apps (add one: gladdesk apps add ID --store-name NAME)",
        header=("ID", "STORE", "ONBOARDING", "TRUST", "ORIGINS", "LOGIN URL"),
        row=lambda app: (
            app.app_id,
            app.store_name,
            app.onboarding,
            f"{app.trust_window_s // 60} min"
            if app.trust_window_s % 60 == 0
            else f"{app.trust_window_s} s",
            ",".join(app.allowed_origins) or "-",
            app.login_url or "-",
        ),
    )


# -- agents -----------------------------------------------------------------------------------


@click.group("agents")
def agents_group() -> None:
    """Agents: who works the desk, how many chats at once, which inboxes."""


_INBOX_OPTION = click.option(
    "--inbox",
    "inboxes",
    multiple=True,
    metavar="NAME",
    help="An inbox the agent works (repeat for several; none: every inbox).",
)


_ROLE_OPTION = click.option(
    "--role",
    type=click.Choice(["agent", "admin"]),
    default=None,
    help="agent (default): their own and their inboxes' unassigned chats over the agent API;"
    " admin: every chat, and the admin REST API with their token.",
)


@agents_group.command("add")
@click.argument("handle")
@click.option("--name", required=True, help="The agent's name, as customers and colleagues see it.")
@click.option("--capacity", type=int, default=None, help="Chats at once (1 to 1000; default 5).")
@_INBOX_OPTION
@_ROLE_OPTION
@click.pass_context
def agents_add(
    ctx: click.Context,
    handle: str,
    name: str,
    capacity: int | None,
    inboxes: tuple[str, ...],
    role: str | None,
) -> None:
    """Add an agent; HANDLE is what they give to `gladdesk console --agent`."""
    from core.setup import DeskAdmin

    settings: dict[str, Any] = {"handle": handle, "name": name, "inboxes": list(inboxes)}
    if capacity is not None:
        settings["capacity"] = capacity
    if role is not None:
        settings["role"] = role
    with _named_as_options(), open_desk(ctx) as desk:
        agent = DeskAdmin(desk).add_agent(settings)
    works = ", ".join(agent.inboxes) or "every inbox"
    admin = ", admin" if agent.role == "admin" else ""
    click.echo(
        f"added agent {agent.handle!r} ({agent.name}, {agent.capacity} chats at once, {works}"
        f"{admin}); their console: gladdesk console --agent {agent.handle}"
    )


@agents_group.command("set")
@click.argument("handle")
@click.option("--name", default=None, help="The agent's name.")
@click.option("--capacity", type=int, default=None, help="Chats at once (1 to 1000).")
@_INBOX_OPTION
@click.option("--all-inboxes", is_flag=True, help="The agent works every inbox.")
@_ROLE_OPTION
@click.pass_context
def agents_set(
    ctx: click.Context,
    handle: str,
    name: str | None,
    capacity: int | None,
    inboxes: tuple[str, ...],
    all_inboxes: bool,
    role: str | None,
) -> None:
    """Change agent HANDLE: only the settings given change."""
    from core.setup import DeskAdmin

    if inboxes and all_inboxes:
        raise click.UsageError("give --inbox or --all-inboxes, not both")
    settings: dict[str, Any] = {"name": name, "capacity": capacity, "role": role}
    settings = {key: value for key, value in settings.items() if value is not None}
    if inboxes or all_inboxes:
        settings["inboxes"] = list(inboxes)
    if not settings:
        raise click.UsageError("nothing to change: give --name, --capacity, --inbox or --role")
    with _named_as_options(), open_desk(ctx) as desk:
        _agent, changed = DeskAdmin(desk).set_agent(handle, settings)
    _changed(f"agent {handle!r}", changed)


@agents_group.command("disable")
@click.argument("handle")
@click.pass_context
def agents_disable(ctx: click.Context, handle: str) -> None:
    """No new chats for HANDLE and no console; their open chats stay theirs until a
    colleague transfers them."""
    from core.setup import DeskAdmin

    with _named_as_options(), open_desk(ctx) as desk:
        admin = DeskAdmin(desk)
        changed = admin.disable_agent(handle)
        still_open = admin.agent(handle).open_conversations
    if not changed:
        click.echo(f"agent {handle!r} was already disabled; nothing changed")
        return
    click.echo(f"disabled agent {handle!r}; their agent API token, if any, is revoked")
    if still_open:
        click.echo(
            f"note: {still_open} open chat(s) are still theirs; a colleague can transfer them"
            " (console: All view, t)"
        )


@agents_group.command("enable")
@click.argument("handle")
@click.pass_context
def agents_enable(ctx: click.Context, handle: str) -> None:
    """HANDLE gets chats again and may open the console."""
    from core.setup import DeskAdmin

    with _named_as_options(), open_desk(ctx) as desk:
        changed = DeskAdmin(desk).enable_agent(handle)
    if not changed:
        click.echo(f"agent {handle!r} was not disabled; nothing changed")
        return
    click.echo(
        f"enabled agent {handle!r}; their old agent API token stays revoked: a new one with"
        f" gladdesk agents token {handle}"
    )


@agents_group.command("token")
@click.argument("handle")
@click.option(
    "--rotate", is_flag=True, help="Replace the agent's token; the old one stops at once."
)
@click.option("--json", "as_json", is_flag=True, help='Print {"handle": ..., "token": ...}.')
@click.pass_context
def agents_token(ctx: click.Context, handle: str, rotate: bool, as_json: bool) -> None:
    """Print a personal access token for HANDLE to use the agent API (docs/agent-api.md):
    shown only this once (on stdout, alone on its line), stored hashed. Refused when they
    already have one, unless --rotate."""
    from core.setup import DeskAdmin

    with _named_as_options(), open_desk(ctx) as desk:
        token = DeskAdmin(desk).issue_token(handle, rotate=rotate)
    replaced = "; the previous token no longer works" if rotate else ""
    click.echo(
        f"agent API token for {handle!r}, shown only this once{replaced}."
        " Send it as: Authorization: Bearer <token>",
        err=True,
    )
    click.echo(json.dumps({"handle": handle, "token": token}) if as_json else token)


@agents_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def agents_list(ctx: click.Context, as_json: bool) -> None:
    """List the agents with their role, load, availability and whether they have a token."""
    from core.setup import DeskAdmin

    with _named_as_options(), open_desk(ctx) as desk:
        agents = DeskAdmin(desk).agents()
    _show(
        agents,
        as_json=as_json,
        empty="no agents (add one: gladdesk agents add HANDLE --name NAME)",
        header=("HANDLE", "NAME", "ROLE", "STATUS", "LOAD", "INBOXES", "TOKEN"),
        row=lambda a: (
            a.config.handle,
            a.config.name,
            a.config.role,
            "disabled" if a.config.disabled else "available" if a.available else "away",
            f"{a.open_conversations}/{a.config.capacity}",
            ",".join(a.config.inboxes) or "(all)",
            "set" if a.has_token else "-",
        ),
    )


# -- inboxes ----------------------------------------------------------------------------------


@click.group("inboxes")
def inboxes_group() -> None:
    """Inboxes: where conversations wait, by subject (Chat, Returns, Billing...)."""


@inboxes_group.command("add")
@click.argument("name")
@click.option("--default", "make_default", is_flag=True, help="New chats go here by default.")
@click.pass_context
def inboxes_add(ctx: click.Context, name: str, make_default: bool) -> None:
    """Add an inbox (rules route to it by NAME; agents may be limited to it)."""
    from core.setup import DeskAdmin

    with _named_as_options(), open_desk(ctx) as desk, desk.transaction():
        admin = DeskAdmin(desk)
        added = admin.add_inbox(name)
        if make_default:
            admin.set_default_inbox(added)
        default = admin.default_inbox()
    click.echo(f"added inbox {added!r}" + (" (the default)" if default == added else ""))


@inboxes_group.command("default")
@click.argument("name")
@click.pass_context
def inboxes_default(ctx: click.Context, name: str) -> None:
    """Make NAME the inbox new chats go to unless a rule routes them."""
    from core.setup import DeskAdmin

    with _named_as_options(), open_desk(ctx) as desk:
        changed = DeskAdmin(desk).set_default_inbox(name)
    click.echo(
        f"default inbox: {name!r}"
        if changed
        else f"{name!r} already is the default; nothing changed"
    )


@inboxes_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def inboxes_list(ctx: click.Context, as_json: bool) -> None:
    """List the inboxes with their open conversations."""
    from core.setup import DeskAdmin

    with _named_as_options(), open_desk(ctx) as desk:
        inboxes = DeskAdmin(desk).inboxes()
    _show(
        inboxes,
        as_json=as_json,
        empty="no inboxes (add one: gladdesk inboxes add NAME)",
        header=("NAME", "DEFAULT", "OPEN", "AGENTS"),
        row=lambda inbox: (
            inbox.name,
            "yes" if inbox.default else "",
            inbox.open_conversations,
            ",".join(inbox.agents) or "(nobody: chats wait here)",
        ),
    )
