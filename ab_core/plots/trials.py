"""A sweep's `trials.png`: the objective against each searched parameter, and every trial's curve."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ab_core.plots.curves import points
from ab_core.plots.figure import panel_figure, save, step_axis
from ab_core.plots.history import Row

TRIALS_FILE = "trials.png"


@dataclass(frozen=True)
class TrialRecord:
    """What a sweep knows of one trial: its name, sampled params, objective value (None: it reported
    none) and reports over steps."""

    label: str
    params: dict[str, Any]
    value: float | None
    rows: list[Row] = field(default_factory=list)


def draw_trials(
    path: Path, trials: list[TrialRecord], metric: str, mode: Literal["min", "max"], title: str = ""
) -> Path:
    """One scatter panel per searched parameter (the best trial ringed), then one panel with every
    trial's curve of the objective over steps (of `loss` when no trial reported the objective twice)."""
    searched = sorted({name for trial in trials for name in trial.params})
    figure, axes = panel_figure(len(searched) + 1, title or f"{len(trials)} trials, {metric} ({mode})")
    scored = [trial for trial in trials if trial.value is not None]
    best = (min if mode == "min" else max)(scored, key=lambda t: t.value or 0.0) if scored else None
    for axis, name in zip(axes, searched, strict=False):
        _against(axis, name, [t for t in scored if name in t.params], best, metric)
    curve = metric if any(len(points(t.rows, metric)[0]) > 1 for t in trials) else "loss"
    axis = axes[len(searched)]
    for trial in trials:
        steps, values = points(trial.rows, curve)
        axis.plot(steps, values, linewidth=2.5 if trial is best else 1, label=trial.label,
                  marker="o" if len(steps) < 20 else None, markersize=3)  # fmt: skip
    step_axis(axis, f"{curve} over steps, per trial", curve)
    if 0 < len(trials) <= 12:
        axis.legend(fontsize=7)
    return save(figure, path)


def _against(axis: Any, name: str, trials: list[TrialRecord], best: TrialRecord | None, metric: str) -> None:
    """The objective of each trial against its value of `name`: numbers on a (log, when they span two
    decades) axis, anything else as categories."""
    xs = [trial.params[name] for trial in trials]
    ys = [trial.value for trial in trials]
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs)
    if not numeric:
        xs = [str(x) for x in xs]
    axis.scatter(xs, ys, s=25)
    if best is not None and best in trials:
        x = best.params[name] if numeric else str(best.params[name])
        axis.scatter([x], [best.value], s=120, facecolors="none", edgecolors="red", label="best")
        axis.legend(fontsize=7)
    if numeric and xs and min(xs) > 0 and max(xs) / min(xs) >= 100:
        axis.set_xscale("log")
    axis.set(title=f"{metric} vs {name}", xlabel=name, ylabel=metric)
    axis.grid(alpha=0.3)
