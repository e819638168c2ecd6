"""Curves over steps: one run's metrics a panel each (`curves.png`), or one metric of several runs."""

from __future__ import annotations

from pathlib import Path

from ab_core.plots.figure import new_figure, panel_figure, save, step_axis
from ab_core.plots.history import Row

NOT_CURVES = ("step", "epoch", "images_per_second")  # the x axis, and a figure reported at checkpoints


def curve_names(rows: list[Row]) -> list[str]:
    """The metrics worth a panel: loss, lr, then the method's, each numeric in at least one row."""
    names: dict[str, None] = {"loss": None, "lr": None}
    for row in rows:
        names.update(dict.fromkeys(row))
    return [name for name in names if name not in NOT_CURVES and points(rows, name)[0]]


def points(rows: list[Row], metric: str) -> tuple[list[float], list[float]]:
    """(steps, values) of the rows that have a step and a number for `metric`; x is the row's index
    when no row has a step."""
    steps, values = [], []
    for index, row in enumerate(rows):
        x, y = row.get("step", index + 1), row.get(metric)
        if isinstance(x, int | float) and isinstance(y, int | float):
            steps.append(float(x))
            values.append(float(y))
    return steps, values


def draw_curves(path: Path, rows: list[Row], title: str = "") -> Path:
    """One panel per metric over steps; a note instead of panels when nothing was reported."""
    names = curve_names(rows)
    figure, axes = panel_figure(len(names), title or None)
    for axis, name in zip(axes, names, strict=False):
        steps, values = points(rows, name)
        axis.plot(steps, values, marker="o" if len(steps) < 20 else None, markersize=3)
        step_axis(axis, name)
    if not names:
        axes[0].text(0.5, 0.5, "no metrics reported", ha="center", va="center")
        axes[0].set_axis_off()
    return save(figure, path)


def draw_runs(path: Path, runs: dict[str, list[Row]], metric: str = "loss", title: str = "") -> Path:
    """`metric` over steps of each run (label -> its rows) in one panel, one line per run."""
    figure = new_figure(7.5, 4.5)
    axis = figure.add_subplot()
    for label, rows in runs.items():
        steps, values = points(rows, metric)
        axis.plot(steps, values, label=f"{label}" + ("" if steps else " (none)"),
                  marker="o" if len(steps) < 20 else None, markersize=3)  # fmt: skip
    step_axis(axis, title or f"{metric} over steps", metric)
    if runs:
        axis.legend(fontsize=8)
    return save(figure, path)
