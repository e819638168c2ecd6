"""Run one JobSpec in this process: the same entry point for `abs run`, Ray workers and sweep trials."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ab_core.evaluation.run import evaluate
from ab_core.specs import JobSpec
from ab_core.training import pretrain, resolve_resume


def _ignore(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
    pass


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

    report(metrics, checkpoint_dir=None) receives progress; resume_from is None, "auto" or a
    checkpoint directory (pretraining only).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device) if device is not None else default_device()
    if spec.kind == "pretrain":
        result = pretrain(spec, out_dir, report, device, resolve_resume(out_dir, resume_from))
    else:
        result = evaluate(spec, out_dir, report, device)
    (out_dir / "results.json").write_text(json.dumps(result, indent=2, default=str))
    return result
