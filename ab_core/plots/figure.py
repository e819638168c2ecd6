"""The one way this project makes a matplotlib figure: an Agg canvas, no pyplot, no global backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal


def new_figure(width: float, height: float, layout: Literal["constrained"] | None = "constrained") -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def panel_figure(
    panels: int, title: str | None = None, columns: int = 2, size: tuple[float, float] = (4.2, 2.8)
) -> tuple[Any, list[Any]]:
    """A figure of `panels` axes in rows of `columns` (each `size` inches), spare cells removed."""
    columns = min(columns, max(1, panels))
    rows = max(1, -(-panels // columns))
    figure = new_figure(size[0] * columns, size[1] * rows + (0.4 if title else 0))
    if title:
        figure.suptitle(title, fontsize=10)
    axes = list(figure.subplots(rows, columns, squeeze=False).ravel())
    for spare in axes[panels:]:
        spare.remove()
    return figure, axes[: max(1, panels)]


def step_axis(axis: Any, title: str, ylabel: str | None = None) -> None:
    """An axis over optimiser steps: whole-number ticks, a light grid."""
    from matplotlib.ticker import MaxNLocator

    axis.set(title=title, xlabel="step", ylabel=ylabel)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.grid(alpha=0.3)


def save(figure: Any, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
