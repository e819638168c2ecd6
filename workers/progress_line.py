"""One readable line per progress report, printed to the Ray job's driver log (the Ray dashboard shows it):
step/total, loss and the method's metrics, images/s and ETA, instead of the raw report dict.

    step 40/200 (20%)  epoch 1.60  loss 4.512  lr 3.00e-04  top1 0.25  |  312 img/s  ETA 2m05s
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

FRAMING = ("step", "total_steps", "epoch", "category")  # shown first, in their own format
NOT_SHOWN = frozenset({*FRAMING, "worker_pid", "images_per_second", "warning", "final"})


def format_progress(
    metrics: dict[str, Any], images_per_second: float | None = None, eta_seconds: float | None = None
) -> str:
    """The line of one report: where it is, then loss and every other number, then speed and ETA.

    True flags (`collapsed`) show by name, false ones not at all; a method's warning ends the line."""
    parts = ["final"] if metrics.get("final") else []  # an evaluation's last report: its means
    if metrics.get("category") is not None:
        parts.append(f"[{metrics['category']}]")
    step, total = metrics.get("step"), metrics.get("total_steps")
    if step is not None:
        parts.append(f"step {step}/{total} ({100 * step / total:.0f}%)" if total else f"step {step}")
    if metrics.get("epoch") is not None:
        parts.append(f"epoch {metrics['epoch']:.2f}")
    shown = sorted((key for key in metrics if key not in NOT_SHOWN), key=lambda key: key != "loss")
    for key in shown:  # loss first, the rest as reported
        value = metrics[key]
        if isinstance(value, bool):
            parts.extend([key] if value else [])
        elif isinstance(value, int | float | str):
            parts.append(f"{key} {_number(value)}")
    speed = [f"{images_per_second:.0f} img/s"] if images_per_second else []
    speed += [f"ETA {_duration(eta_seconds)}"] if eta_seconds is not None else []
    line = "  ".join(parts) + ("  |  " + "  ".join(speed) if speed else "")
    return line + (f"  ! {metrics['warning']}" if metrics.get("warning") else "")


class ProgressLine:
    """Times the reports of one run and prints each one's line; `images_per_step`: the run's global batch
    (None when a step is no batch, e.g. an evaluation). Speed and ETA are averaged since the first report
    (the first one shows the loop's own `images_per_second`, when it has one)."""

    def __init__(
        self,
        images_per_step: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        out: Callable[[str], None] | None = None,
    ):
        self.images_per_step, self.clock, self.out = images_per_step, clock, out or _print
        self._first: tuple[int, float] | None = None  # (step, time) of the first report
        self._last_step = -1

    def __call__(self, metrics: dict[str, Any]) -> str:
        step, total, now = metrics.get("step"), metrics.get("total_steps"), self.clock()
        images_per_second, eta = metrics.get("images_per_second"), None
        if isinstance(step, int):
            if step < self._last_step:  # a run restored from an earlier checkpoint: time it from there
                self._first = None
            self._first = self._first or (step, now)
            self._last_step = step
            first_step, first_time = self._first
            if step > first_step and now > first_time:
                steps_per_second = (step - first_step) / (now - first_time)
                if self.images_per_step:
                    images_per_second = steps_per_second * self.images_per_step
                if total:
                    eta = (total - step) / steps_per_second
        line = format_progress(metrics, images_per_second, eta)
        self.out(line)
        return line


def _print(line: str) -> None:
    print(line, flush=True)  # the Ray job's log is a file: flushed, it shows as the report arrives


def _number(value: int | float | str) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _duration(seconds: float) -> str:
    """12s, 2m05s, 1h02m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
