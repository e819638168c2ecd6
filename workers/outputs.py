"""What a finished run leaves: its checkpoint's files registered as artifacts (a pretraining's final
checkpoint holds its `metrics.csv` and `curves.png` too), and the job's result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ab_core.plots.history import METRICS_FILE
from ab_core.specs import JobSpec
from workers.api_client import WorkerApi


def register_outputs(api: WorkerApi, spec: JobSpec, result: Any) -> dict[str, Any]:
    """Register every file of the final checkpoint (for an evaluation: its results and pictures)."""
    checkpoint = Path(result.checkpoint.path) if result.checkpoint is not None else None
    outcome: dict[str, Any] = {"checkpoint": str(checkpoint) if checkpoint else None}
    if checkpoint is None:
        return outcome | {"metrics": dict(result.metrics or {})}
    for path in sorted(p for p in checkpoint.rglob("*") if p.is_file()):
        api.register_artifact(str(path.relative_to(checkpoint)), artifact_kind(spec, path), str(path))
    results_file = checkpoint / "results.json"
    if spec.kind == "evaluate" and results_file.is_file():
        return outcome | json.loads(results_file.read_text())
    metrics = {k: v for k, v in (result.metrics or {}).items() if k != "worker_pid"}
    flags = {k: v for k, v in metrics.items() if isinstance(v, bool)}  # a method's result flags: collapsed
    return outcome | {"metrics": metrics, "steps": metrics.get("step")} | flags | provenance(checkpoint)


def provenance(checkpoint: Path) -> dict[str, Any]:
    """The spec hash, dataset fingerprint (rows compare on these) and class counts a checkpoint records."""
    meta_file = checkpoint / "meta.json"
    if not meta_file.is_file():
        return {}
    meta = json.loads(meta_file.read_text())
    return {key: meta[key] for key in ("spec_hash", "dataset_fingerprint", "code_version", "class_counts")
            if key in meta}


def artifact_kind(spec: JobSpec, path: Path) -> str:
    if path.suffix in (".png", ".jpg"):
        return "picture"
    if path.suffix == ".json" or path.name == METRICS_FILE:
        return "metrics"
    return "checkpoint" if spec.kind == "pretrain" else "file"


def objective_metrics_of(result: dict[str, Any]) -> dict[str, float]:
    """The numbers a sweep ranks by: an evaluation's mean (anomaly) or top-level (probe) metrics, else a
    pretraining's last metrics."""
    return numbers_of(result.get("mean") or result.get("metrics") or result)


def numbers_of(values: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a report (its flags are not metrics)."""
    return {k: v for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}
