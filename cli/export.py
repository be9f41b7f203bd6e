"""`gladdesk export conversations`: conversations with their timelines as JSON."""

from __future__ import annotations

import json

import click

from cli.common import open_desk


@click.group("export")
def export_group() -> None:
    """Export desk data as JSON."""


@export_group.command("conversations")
@click.option(
    "--customer",
    default=None,
    metavar="EMAIL_OR_PHONE",
    help="Only this customer's conversations (email, or phone in E.164).",
)
@click.pass_context
def export_conversations(ctx: click.Context, customer: str | None) -> None:
    """Every conversation with its items; customer messages carry `trusted` and `glyph`."""
    from core.engine import Engine, NoRules

    with open_desk(ctx) as desk:
        data = Engine(desk, rules=NoRules()).export_conversations(customer=customer)
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))
