"""Plain-text tables for the listing commands (`keys list`, `apps list`, `agents list`...)."""

from __future__ import annotations

from collections.abc import Sequence

import click


def echo_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print `rows` under `header`, each column as wide as its widest cell."""
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
