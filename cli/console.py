"""The CLI's rich output: consoles and header-first tables that stay plain, unwrapped text when piped."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 10_000  # a pipe or file gets whole lines: `grep` and `cut` see every column


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr), no markup in the values printed; colours only on a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPED_WIDTH
    return Console(file=stream, width=width, markup=False, highlight=False, soft_wrap=False)


def table(*columns: str, right: tuple[str, ...] = ()) -> Table:
    """Columns two spaces apart under a bold header; the `right` ones right-aligned (numbers)."""
    grid = Table(box=None, pad_edge=False, header_style="bold", padding=(0, 1))
    for column in columns:
        grid.add_column(column, justify="right" if column in right else "left", overflow="fold")
    return grid


def show(renderable: Any) -> None:
    """Print to stdout; piped, each line without the padding that aligns it on a terminal."""
    out = console()
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))
