"""A run's metric history: one row per report, one column per metric, kept as `metrics.csv`.

A pretraining leaves `metrics.csv` in every checkpoint (so a resumed run carries the steps before it on)
and, at its end, `metrics.csv` and `curves.png` in its final checkpoint and in its output directory.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.csv"
CURVES_FILE = "curves.png"
NOT_METRICS = ("total_steps", "worker_pid", "warning")  # bookkeeping and messages, not values over steps

Row = dict[str, float | int | str]
Report = Callable[..., None]


def metric_row(report: Mapping[str, Any]) -> Row:
    """One report's metrics: its numbers (and labels such as an evaluation's `category`); a method's
    flags (`collapsed`), warnings and bookkeeping are left out."""
    return {
        key: value for key, value in report.items()
        if isinstance(value, int | float | str) and not isinstance(value, bool) and key not in NOT_METRICS
    }  # fmt: skip


def columns(rows: Sequence[Row]) -> list[str]:
    """Every metric any row has, `step` first, the others in the order they first appear."""
    names: dict[str, None] = {"step": None}
    for row in rows:
        names.update(dict.fromkeys(row))
    return [name for name in names if name != "step" or any("step" in row for row in rows)]


def to_csv(rows: list[Row]) -> str:
    """The rows as CSV with a header; a cell is empty where its report lacked that metric."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(rows), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def read_csv(path: Path) -> list[Row]:
    """Rows of a `metrics.csv`, numbers parsed (`step` as an int), empty cells left out."""
    with Path(path).open(newline="") as handle:
        return [{key: _parse(key, value) for key, value in row.items() if value != ""}
                for row in csv.DictReader(handle)]  # fmt: skip


def _parse(key: str, value: str) -> float | int | str:
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if key == "step" else number


class RunHistory:
    """Records a pretraining's reports on their way to the caller's `report` and writes them out."""

    def __init__(self, rows: list[Row] | None = None, title: str = ""):
        self.rows: list[Row] = list(rows or [])
        self.title = title
        self._drawn: tuple[int, Path] | None = None  # (rows drawn, the picture): drawn once, then copied

    @classmethod
    def resumed(cls, checkpoint: Path | None, title: str = "") -> RunHistory:
        """The history up to the checkpoint a run resumes from (none before this project kept one)."""
        saved = Path(checkpoint) / METRICS_FILE if checkpoint is not None else None
        return cls(read_csv(saved) if saved is not None and saved.is_file() else [], title)

    def recording(self, report: Report) -> Report:
        """`report`, recording each report first; a checkpoint gets the history so far, the final one
        (step == total_steps) its curves too."""

        def record(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
            self.rows.append(metric_row(metrics))
            if checkpoint_dir is not None:
                self.write(Path(checkpoint_dir), curves=metrics.get("step") == metrics.get("total_steps"))
            report(metrics, checkpoint_dir=checkpoint_dir)

        return record

    def write(self, directory: Path, curves: bool = True) -> None:
        """`metrics.csv` (and `curves.png`) in directory."""
        from ab_core.plots.curves import draw_curves

        directory = Path(directory)
        (directory / METRICS_FILE).write_text(to_csv(self.rows))
        if not curves:
            return
        if self._drawn is not None and self._drawn[0] == len(self.rows) and self._drawn[1].is_file():
            shutil.copyfile(self._drawn[1], directory / CURVES_FILE)
        else:
            self._drawn = len(self.rows), draw_curves(directory / CURVES_FILE, self.rows, self.title)
