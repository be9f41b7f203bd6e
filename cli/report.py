"""`gladdesk report`: the authentication report as a table, CSV or JSON."""

from __future__ import annotations

import json
from datetime import date

import click

from cli.common import open_desk


class Day(click.ParamType):
    """A UTC day written YYYY-MM-DD; anything else is a usage error (exit 2)."""

    name = "YYYY-MM-DD"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> date:
        from core.report import ReportError, parse_day

        try:
            return parse_day(value, param.name if param and param.name else "day")
        except ReportError as exc:
            self.fail(str(exc), param, ctx)


@click.command("report")
@click.option("--since", type=Day(), default=None, help="First UTC day (default: first with data).")
@click.option("--until", type=Day(), default=None, help="Last UTC day (default: last with data).")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.pass_context
def report_command(ctx: click.Context, since: date | None, until: date | None, output: str) -> None:
    """The authentication report: authenticated conversations per day and inbox, how each
    became trusted, median time to authenticate, rejected tokens by reason.

    Days are UTC; a conversation counts on the day it started.
    """
    from core.report import (
        ReportError,
        authentication_report,
        check_range,
        report_csv,
        report_dict,
        report_table,
    )

    try:
        check_range(since, until)
    except ReportError as exc:
        raise click.UsageError(str(exc), ctx) from None
    with open_desk(ctx) as desk:
        report = authentication_report(desk, since=since, until=until)
    if output == "json":
        click.echo(json.dumps(report_dict(report), ensure_ascii=False, indent=2))
    elif output == "csv":
        click.echo(report_csv(report), nl=False)
    else:
        click.echo(report_table(report), nl=False)
