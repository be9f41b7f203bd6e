"""`gladdesk audit`: the rejected identity tokens behind sessions, newest first
(docs/trust-model.md#the-token-audit)."""

from __future__ import annotations

import json

import click

from cli.common import open_desk

#: Most rows one `gladdesk audit` prints.
MAX_CLI_LIMIT = 10_000


@click.command("audit")
@click.option(
    "--since",
    metavar="WHEN",
    help="Only rejections since WHEN: a UTC day (2026-11-20), a time (2026-11-20T09:00Z)"
    " or a duration back from now (15m, 2h, 7d).",
)
@click.option("--code", help="Only this rejection code (expired, bad_signature, ...).")
@click.option("--session", "session_id", metavar="ID", help="Only this widget session.")
@click.option("--app", "app_id", metavar="ID", help="Only tokens presented for this app.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_CLI_LIMIT),
    default=50,
    show_default=True,
    help="Print at most this many (the newest).",
)
@click.pass_context
def audit_command(
    ctx: click.Context,
    since: str | None,
    code: str | None,
    session_id: str | None,
    app_id: str | None,
    as_json: bool,
    limit: int,
) -> None:
    """Rejected identity tokens: code, key id, time, app, session and who the session
    claimed to be, never the token. `gladdesk verify` checks are listed with origin `cli`.
    """
    from core.report.audit import (
        AuditEntry,
        AuditError,
        audit_entry_dict,
        audit_filter,
        audit_table,
    )
    from core.report.audit import audit_page as read_page

    with open_desk(ctx) as desk:
        try:
            wanted = audit_filter(desk, since=since, code=code, session=session_id, app=app_id)
        except AuditError as exc:
            raise click.BadParameter(exc.reason, param_hint=f"--{exc.attr}") from None
        entries: list[AuditEntry] = []
        cursor = None
        while len(entries) < limit:
            page = read_page(desk, wanted, cursor=cursor, limit=limit - len(entries))
            entries += page.entries
            cursor = page.next_cursor
            if cursor is None:
                break
    if as_json:
        click.echo(json.dumps([audit_entry_dict(e) for e in entries], ensure_ascii=False, indent=2))
    elif not entries:
        click.echo("no rejected tokens match")
    else:
        click.echo(audit_table(entries), nl=False)
