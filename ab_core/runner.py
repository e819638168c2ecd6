"""Run one JobSpec in this process: the same entry point for `abs run`, Ray workers and sweep trials."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ab_core.distributed import current_world
from ab_core.evaluation.run import evaluate
from ab_core.plots.history import RunHistory
from ab_core.specs import JobSpec
from ab_core.training import pretrain, resolve_resume


def _ignore(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
    pass


def run_title(spec: JobSpec) -> str:
    """A picture's title: the spec's name (if any), method and backbone arch."""
    return " / ".join(part for part in (spec.name, spec.method.method, spec.backbone.arch) if part)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def run(
    spec: JobSpec,
    out_dir: Path,
    report: Callable[..., None] = _ignore,
    resume_from: str | None = None,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """Pretrain or evaluate per `spec.kind`; writes `results.json` in out_dir and returns the result.
    A pretraining's main process also leaves its history: `metrics.csv` and `curves.png` in out_dir and
    its final checkpoint (`ab_core.plots.history`).

    report(metrics, checkpoint_dir=None) receives progress; resume_from is None, "auto" or a
    checkpoint directory (pretraining only).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device) if device is not None else default_device()
    if spec.kind == "pretrain":
        resume = resolve_resume(out_dir, resume_from)
        history = RunHistory.resumed(resume, run_title(spec)) if current_world().is_main else None
        result = pretrain(spec, out_dir, history.recording(report) if history else report, device, resume)
        if history is not None:
            history.write(out_dir)
    else:
        result = evaluate(spec, out_dir, report, device)
    (out_dir / "results.json").write_text(json.dumps(result, indent=2, default=str))
    return result
