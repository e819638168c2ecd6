"""Leaderboard test data: pretrain, evaluate and sweep jobs run to success with the results workers post."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from sqlalchemy import insert, update

from ab_core.evaluation.table import markdown_table, mean_row
from ab_core.specs import JobSpec, parse_spec
from services.db import utcnow
from services.ids import new_job_id
from services.models import Job
from services.plane import ControlPlane
from services.records import JobRecord, Principal
from services.states import JobState

CATEGORIES = ["carpet", "screw"]


def finish(plane: ControlPlane, job: JobRecord, result: dict[str, Any]) -> JobRecord:
    """Claim `job` (only it) and complete it with `result`, as a worker does."""
    (claim,) = plane.queue.claim("worker-1", job_ids=[job.id])
    return plane.queue.complete(job.id, claim.attempt, result)


def write_checkpoint(directory: Path) -> str:
    """A checkpoint directory holding a backbone.pt in torch's format, as `backbone.weights` must name."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.save({}, directory / "backbone.pt")
    return str(directory)


def pretrain_spec(root: Path, method: str = "simclr", **params: Any) -> JobSpec:
    return parse_spec({"kind": "pretrain", "method": {"method": method, **params}, "schedule": {"steps": 4},
                       "data": {"dataset": "image_folder", "root": str(root / "classes"), "resize": 32,
                                "crop": 32}})  # fmt: skip


def pretrain(
    plane: ControlPlane, who: Principal, root: Path, method: str = "simclr", parent_id: str | None = None,
    **params: Any,
) -> JobRecord:  # fmt: skip
    """A finished pretraining with a checkpoint in the run store's <id>/ and a dataset fingerprint."""
    job, _ = plane.jobs.submit(who, pretrain_spec(root, method, **params), parent_id=parent_id)
    checkpoint = write_checkpoint(plane.settings.runs_dir / job.id / "checkpoint_000004")
    result = {"checkpoint": checkpoint, "metrics": {"loss": 0.5, "step": 4},
              "steps": 4, "dataset_fingerprint": f"classes-{method}", "spec_hash": job.spec_hash}  # fmt: skip
    return finish(plane, job, result)


def anomaly_metrics(image_auroc: float) -> dict[str, Any]:
    """One category's metrics as `ab_core.evaluation.scoring.anomaly_metrics` plus timings produce them."""
    return {"image_auroc": image_auroc, "image_f1_max": image_auroc - 0.1, "images": 12, "defective": 8,
            "pixel_auroc": image_auroc - 0.05, "aupro": image_auroc - 0.2, "pixel_f1_max": 0.4,
            "pixel_metrics_skipped": ["test/hole/000.png"], "fit_seconds": 0.3, "test_seconds": 0.1,
            "train_images": 12}  # fmt: skip


def evaluate(
    plane: ControlPlane, who: Principal, root: Path, aurocs: dict[str, float], *, method: str = "padim",
    backbone: dict[str, Any] | None = None,
) -> JobRecord:  # fmt: skip
    """A finished anomaly evaluation on mvtec with `aurocs` as each category's image AUROC."""
    job, result = submit_evaluation(plane, who, root, aurocs, method=method, backbone=backbone)
    return finish(plane, job, result)


def submit_evaluation(
    plane: ControlPlane, who: Principal, root: Path, aurocs: dict[str, float], *, method: str = "padim",
    backbone: dict[str, Any] | None = None,
) -> tuple[JobRecord, dict[str, Any]]:  # fmt: skip
    """A queued anomaly evaluation and the result its worker would post."""
    raw = {"kind": "evaluate", "method": {"method": method}, "backbone": backbone or {},
           "data": {"dataset": "mvtec", "root": str(root / "mvtec"), "categories": list(aurocs),
                    "resize": 32, "crop": 32}}  # fmt: skip
    spec = parse_spec(raw)
    job, _ = plane.jobs.submit(who, spec)
    per_category = {category: anomaly_metrics(value) for category, value in aurocs.items()}
    mean = mean_row(per_category)
    header = {"method": method, "params": spec.method.model_dump(mode="json"),
              "backbone": spec.backbone.model_dump(mode="json"), "data": spec.data.model_dump(mode="json"),
              "seed": 0, "code_version": "abc123", "dataset_fingerprint": "mvtec-fp"}  # fmt: skip
    result = {"checkpoint": f"/runs/{job.id}/checkpoint_000000", **header, "categories": per_category,
              "mean": mean, "table": markdown_table(per_category, mean)}  # fmt: skip
    return job, result


def probe(
    plane: ControlPlane, who: Principal, root: Path, top1: float, backbone: dict[str, Any]
) -> JobRecord:
    """A finished linear probe on the class folder."""
    spec = parse_spec({"kind": "evaluate", "method": {"method": "linear_probe"}, "backbone": backbone,
                       "data": {"dataset": "image_folder", "root": str(root / "classes"), "resize": 32,
                                "crop": 32}})  # fmt: skip
    job, _ = plane.jobs.submit(who, spec)
    result = {"checkpoint": f"/runs/{job.id}/checkpoint_000000", "method": "linear_probe", "top1": top1,
              "top5": 1.0, "classes": 3, "train_images": 24, "test_images": 6, "fit_seconds": 0.2,
              "test_seconds": 0.1, "dataset_fingerprint": "classes-fp"}  # fmt: skip
    return finish(plane, job, result)


def sweep(plane: ControlPlane, who: Principal, root: Path, temperatures: list[float], best: int) -> tuple[
    str, list[JobRecord]
]:  # fmt: skip
    """A succeeded sweep over simclr's temperature; `best` indexes the best trial.

    The sweep row is written directly, as the sweep runner leaves it (its trials go through `submit`).
    """
    sweep_id, now = new_job_id(), utcnow()
    trial = pretrain_spec(root).model_dump(mode="json")
    with plane.db.write() as session:
        session.execute(insert(Job).values(
            id=sweep_id, kind="sweep", spec={"kind": "sweep", "trial": trial,
                                             "space": {"method.temperature": {"grid": temperatures}}},
            spec_hash="s" * 64, owner=who.owner, priority=0, state=JobState.RUNNING.value,
            cancel_requested=False, attempt=1, max_attempts=1, last_event_seq=0, created_at=now,
            updated_at=now,
        ))  # fmt: skip
    trials = [pretrain(plane, who, root, parent_id=sweep_id, temperature=t) for t in temperatures]
    chosen = trials[best]
    with plane.db.write() as session:
        session.execute(update(Job).where(Job.id == sweep_id).values(
            state=JobState.SUCCEEDED.value, finished_at=utcnow(),
            result={"best": {"job_id": chosen.id, "checkpoint": chosen.result["checkpoint"],  # type: ignore[index]
                             "metrics": {"loss": 0.1}}, "trials": len(trials)},
        ))  # fmt: skip
    return sweep_id, trials
