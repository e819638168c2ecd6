"""The TorchTrainer of one job: scaling from the spec, the job id as the run name (a rerun with the same job
id resumes from the run's last checkpoint; the Ray dashboard's Train page lists the run by it), a user's
error final (`workers.failure_policy`), one readable line per report in the Ray job's log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig, UserCallback

from ab_core.specs import JobSpec
from workers.failure_policy import JobTrainer
from workers.progress_line import ProgressLine
from workers.train_fn import train_fn

Progress = Callable[[dict[str, Any], str | None], None]


class ProgressCallback(UserCallback):
    """Runs in the Ray Train controller, once per report of all ranks: prints rank 0's metrics as a line
    (the controller's stdout goes to the Ray job's log) and forwards them to `progress`."""

    def __init__(self, line: ProgressLine, progress: Progress | None):
        self.line, self.progress = line, progress

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        self.line(metrics[0])
        if self.progress is not None:
            self.progress(metrics[0], checkpoint.path if checkpoint is not None else None)


def build_trainer(
    spec: JobSpec,
    job_id: str,
    storage_path: Path,
    progress: Progress | None = None,
    max_failures: int = 2,
    callbacks: list[UserCallback] | None = None,
    dataset_roots: list[str] | None = None,
) -> JobTrainer:
    """`callbacks`: more controller callbacks (a sweep trial adds Tune's report forwarding);
    `dataset_roots`: where the service lets the data lie (checked in each worker before reading)."""
    resources = spec.resources
    images_per_step = spec.data.batch_size * resources.workers * spec.schedule.grad_accum
    line = ProgressLine(images_per_step if spec.kind == "pretrain" else None)
    worker_resources = {"CPU": resources.cpus_per_worker}
    if resources.gpus_per_worker:
        worker_resources["GPU"] = resources.gpus_per_worker
    return JobTrainer(
        train_fn,
        train_loop_config={
            "spec": spec.model_dump(mode="json"), "job_id": job_id, "dataset_roots": dataset_roots
        },
        scaling_config=ScalingConfig(
            num_workers=resources.workers,
            use_gpu=resources.gpus_per_worker > 0,
            resources_per_worker=worker_resources,
        ),
        run_config=RunConfig(
            name=job_id,
            storage_path=str(storage_path),
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=spec.schedule.keep_checkpoints),
            callbacks=[ProgressCallback(line, progress), *(callbacks or [])],
        ),
    )
