"""The function every Ray Train worker runs: the same ab_core loop that `abs run` uses.

Ray Train has already initialised torch.distributed; ab_core reads rank and world size from it. Every
rank calls `ray.train.report` at the same steps (it is a barrier); only rank 0 hands over a checkpoint.
The dataset root is checked against the service's roots again right before the loop reads it, and any
exception of user code leaves as a `UserCodeError` (final: `workers.failures`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import ray.train
import ray.train.torch
from ray.train import Checkpoint

from ab_core.runner import run
from ab_core.specs import JobSpec
from workers.confinement import check_data_root
from workers.failures import UserCodeError, is_infrastructure


def train_fn(config: dict[str, Any]) -> None:
    try:
        _train(config)
    except Exception as error:
        if is_infrastructure(error):
            raise
        raise UserCodeError.of(error) from None


def _train(config: dict[str, Any]) -> None:
    _quiet_raw_reports()
    spec = JobSpec.model_validate(config["spec"])
    check_data_root(spec, config.get("dataset_roots"))
    out_dir = Path(tempfile.mkdtemp(prefix=f"ab-{config['job_id']}-"))
    resume = _restored_checkpoint(out_dir)

    def report(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
        checkpoint = Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.train.report({**_plain(metrics), "worker_pid": os.getpid()}, checkpoint=checkpoint)

    try:
        result = run(spec, out_dir, report=report, resume_from=resume, device=ray.train.torch.get_device())
        if spec.kind == "evaluate":  # the evaluation's files (results, pictures) become the final checkpoint
            is_main = ray.train.get_context().get_world_rank() == 0
            ray.train.report(
                {"final": 1, **_plain(result.get("mean", {}))},
                checkpoint=Checkpoint.from_directory(str(out_dir)) if is_main else None,
            )
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def _quiet_raw_reports() -> None:
    """Ray Train logs every report as a raw `TrainingReport(...)` line; the job's log has a readable line
    per report instead (`workers.progress_line`). Its logger is named after its file (Ray 2.60)."""
    try:
        from ray.train.v2._internal.execution import context
    except ImportError:  # another Ray: its lines stay
        return
    logging.getLogger(context.__file__).setLevel(logging.WARNING)


def _restored_checkpoint(out_dir: Path) -> str | None:
    """After a worker failure Ray hands back the last reported checkpoint: copy it where ab_core resumes."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    target = out_dir / "checkpoints" / "restored"
    with checkpoint.as_directory() as directory:
        shutil.copytree(directory, target)
    return str(target)


def _plain(metrics: dict[str, Any]) -> dict[str, Any]:
    """Only scalars and strings: Ray keeps metrics as JSON."""
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str | bool)}
