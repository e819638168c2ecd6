"""The leaderboard as a picture: one horizontal bar per row of the ranked metric, best at the top."""

from __future__ import annotations

from pathlib import Path

from ab_core.plots.figure import new_figure, save


def draw_leaderboard(path: Path, bars: list[tuple[str, float | None]], metric: str, title: str = "") -> Path:
    """`bars`: (label, value) best first; a row without the metric shows as an empty, labelled bar."""
    figure = new_figure(8.0, 1.0 + 0.35 * max(1, len(bars)))
    axis = figure.add_subplot()
    labels = [label for label, _ in bars]
    values = [value if value is not None else 0.0 for _, value in bars]
    positions = range(len(bars))
    drawn = axis.barh(list(positions), values, color="tab:blue")
    texts = [f"{value:.4f}" if value is not None else "-" for _, value in bars]
    axis.bar_label(drawn, labels=texts, padding=3, fontsize=8)
    axis.set_yticks(list(positions), labels, fontsize=8)
    axis.invert_yaxis()  # best first, at the top
    axis.set(xlabel=metric, title=title or f"{metric}, best first")
    axis.margins(x=0.15)
    axis.grid(axis="x", alpha=0.3)
    return save(figure, path)
